"""Text the demo's talkers speak: built-in word lists and pseudo-sentences."""

from __future__ import annotations

import numpy as np

from rnnoise_kit.audio import _espeak

WORDS: dict[str, tuple[str, ...]] = {
    "en": tuple(
        "the a and is not house water time children always never quickly today tomorrow "
        "evening street window garden speak going coming see beautiful little big friend "
        "city station summer winter maybe really together bread table question answer "
        "music light train river morning yellow".split()
    ),
    "de": tuple(
        "der die das und ist nicht Haus Wasser Zeit Kinder immer nie schnell heute morgen "
        "Abend Straße Fenster Garten sprechen gehen kommen sehen schön klein groß Freund "
        "Stadt Bahnhof Sommer Winter vielleicht wirklich zusammen Brot Tisch Frage Antwort "
        "Musik Licht Zug Fluss".split()
    ),
    "fr": tuple(
        "le la les et est pas maison eau temps enfants toujours jamais vite aujourd'hui "
        "demain soir rue fenêtre jardin parler aller venir voir beau petit grand ami ville "
        "gare été hiver peut-être vraiment ensemble pain table question réponse musique "
        "lumière train rivière".split()
    ),
    "es": tuple(
        "el la los y es no casa agua tiempo niños siempre nunca rápido hoy mañana noche "
        "calle ventana jardín hablar ir venir ver bonito pequeño grande amigo ciudad "
        "estación verano invierno quizás realmente juntos pan mesa pregunta respuesta "
        "música luz tren río".split()
    ),
    "it": tuple(
        "il la gli e è non casa acqua tempo bambini sempre mai presto oggi domani sera "
        "strada finestra giardino parlare andare venire vedere bello piccolo grande amico "
        "città stazione estate inverno forse davvero insieme pane tavolo domanda risposta "
        "musica luce treno fiume".split()
    ),
    "pt": tuple(
        "o a os e é não casa água tempo crianças sempre nunca depressa hoje amanhã noite "
        "rua janela jardim falar ir vir ver bonito pequeno grande amigo cidade estação "
        "verão inverno talvez realmente juntos pão mesa pergunta resposta música luz "
        "comboio rio".split()
    ),
    "nl": tuple(
        "de het een en is niet huis water tijd kinderen altijd nooit snel vandaag morgen "
        "avond straat raam tuin praten gaan komen zien mooi klein groot vriend stad "
        "station zomer winter misschien echt samen brood tafel vraag antwoord muziek licht "
        "trein rivier".split()
    ),
    "sv": tuple(
        "en ett och är inte huset vatten tid barn alltid aldrig snabbt idag imorgon kväll "
        "gata fönster trädgård prata gå komma se vacker liten stor vän stad station "
        "sommar vinter kanske verkligen tillsammans bröd bord fråga svar musik ljus tåg "
        "älven".split()
    ),
    "pl": tuple(
        "i jest nie to dom woda czas dzieci zawsze nigdy szybko dzisiaj jutro wieczór "
        "ulica okno ogród mówić iść przyjść widzieć piękny mały duży przyjaciel miasto "
        "dworzec lato zima może naprawdę razem chleb stół pytanie odpowiedź muzyka "
        "światło pociąg rzeka szczęście".split()
    ),
    "cs": tuple(
        "a je není to dům voda čas děti vždycky nikdy rychle dnes zítra večer ulice okno "
        "zahrada mluvit jít přijít vidět krásný malý velký přítel město nádraží léto "
        "zima možná opravdu spolu chléb stůl otázka odpověď hudba světlo vlak řeka".split()
    ),
    "ru": tuple(
        "и это не дом вода время дети всегда никогда быстро сегодня завтра вечер улица "
        "окно сад говорить идти прийти видеть красивый маленький большой друг город "
        "вокзал лето зима может правда вместе хлеб стол вопрос ответ музыка свет поезд "
        "река солнце".split()
    ),
    "tr": tuple(
        "ve bir bu değil ev su zaman çocuklar hep asla hızlı bugün yarın akşam sokak "
        "pencere bahçe konuşmak gitmek gelmek görmek güzel küçük büyük arkadaş şehir "
        "istasyon yaz kış belki gerçekten birlikte ekmek masa soru cevap müzik ışık tren "
        "deniz".split()
    ),
    "fi": tuple(
        "ja on ei se talo vesi aika lapset aina koskaan nopeasti tänään huomenna ilta "
        "katu ikkuna puutarha puhua mennä tulla nähdä kaunis pieni suuri ystävä kaupunki "
        "asema kesä talvi ehkä todella yhdessä leipä pöytä kysymys vastaus musiikki valo "
        "juna järvi".split()
    ),
    "hu": tuple(
        "és egy az nem ház víz idő gyerekek mindig soha gyorsan ma holnap este utca "
        "ablak kert beszélni menni jönni látni szép kicsi nagy barát város állomás nyár "
        "tél talán tényleg együtt kenyér asztal kérdés válasz zene fény vonat folyó".split()
    ),
    "da": tuple(
        "en et og er ikke hus vand tid børn altid aldrig hurtigt idag imorgen aften gade "
        "vindue have tale gå komme se smuk lille stor ven by station sommer vinter måske "
        "virkelig sammen brød bord spørgsmål svar musik lys tog å".split()
    ),
    "ro": tuple(
        "și este nu un casa apa timpul copiii mereu niciodată repede azi mâine seara "
        "strada fereastra grădina vorbim merge vine vede frumos mic mare prieten oraș "
        "gara vara iarna poate chiar împreună pâine masa întrebare răspuns muzică lumină "
        "trenul râul".split()
    ),
}
"""Built-in word lists (frequent everyday words) per espeak-ng language."""

DEFAULT_LANGUAGES: tuple[str, ...] = (
    "en", "de", "fr", "es", "it", "pt", "nl", "sv", "pl", "cs", "ru", "tr",
)
"""Languages of the clean speech when none are given (12)."""

BABBLE_EXTRA_LANGUAGES: tuple[str, ...] = ("fi", "hu", "da", "ro")
"""Built-in languages left out of the default speech, so babble talks in other languages."""

_SYLLABLE_ONSETS = ("", "p", "t", "k", "b", "d", "g", "m", "n", "l", "r", "s", "f", "v", "h",
                    "st", "pr", "tr", "kl", "sk")
_SYLLABLE_NUCLEI = ("a", "e", "i", "o", "u", "a", "e", "ai", "ou")
_SYLLABLE_CODAS = ("", "", "", "n", "m", "s", "r", "l", "t", "k")



def available_languages() -> list[str]:
    """espeak-ng languages in the bundled data that have a built-in word list."""
    have = _espeak.available_languages()
    return [lang for lang in WORDS if lang in have]



def pseudo_sentence(lang: str, rng: np.random.Generator, words: tuple[int, int] = (4, 11)) -> str:
    """A plausible pseudo-sentence: random words of ``lang`` (random syllables if unknown).

    Parameters
    ----------
    lang : str
        espeak-ng language code. Languages without a built-in word list get Latin-letter
        pseudo-words, which espeak-ng reads with that language's rules.
    rng : numpy.random.Generator
    words : (int, int)
        Inclusive range of the number of words.

    Returns
    -------
    str
        Capitalised, with occasional commas and a final ``.``, ``?`` or ``!``.
    """
    n = int(rng.integers(words[0], words[1] + 1))
    vocab = WORDS.get(lang)
    out = []
    for i in range(n):
        if vocab is not None:
            w = vocab[int(rng.integers(len(vocab)))]
        else:
            w = "".join(
                _SYLLABLE_ONSETS[int(rng.integers(len(_SYLLABLE_ONSETS)))]
                + _SYLLABLE_NUCLEI[int(rng.integers(len(_SYLLABLE_NUCLEI)))]
                + _SYLLABLE_CODAS[int(rng.integers(len(_SYLLABLE_CODAS)))]
                for _ in range(int(rng.integers(1, 4)))
            )
        if 0 < i < n - 1 and rng.random() < 0.12:
            w += ","
        out.append(w)
    text = " ".join(out)
    text = text[:1].upper() + text[1:]
    return text + str(rng.choice([".", ".", ".", "?", "!"]))


