"""Evaluation: speech-quality metrics, DNSMOS, alignment and the ``compare`` report.

Modules (each imports its optional ``eval`` dependencies lazily):

* :mod:`~rnnoise_kit.evaluation.compare`: ``compare()``, the ``rnnoise-kit compare`` command;
* :mod:`~rnnoise_kit.evaluation.metrics`: PESQ-WB, STOI/eSTOI, SI-SDR, segmental SNR;
* :mod:`~rnnoise_kit.evaluation.dnsmos`: DNSMOS P.835 with onnxruntime (offline);
* :mod:`~rnnoise_kit.evaluation.align`: bounded cross-correlation alignment;
* :mod:`~rnnoise_kit.evaluation.report`: ``metrics.csv``, ``summary.json``, charts, HTML;
* :mod:`~rnnoise_kit.evaluation.paired`: rows against a reference row, file by file, with
  bootstrap confidence intervals (``compare --against``);
* :mod:`~rnnoise_kit.evaluation.schema`: the metric table (names, titles, directions, format)
  that ``compare`` and ``report`` share (no optional dependency).
"""
