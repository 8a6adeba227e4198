"""Product-name speech for measuring the vocabulary (issue 23): sentences a live
seller might say, naming 60 products of several brands in English, Spanish and
Mandarin, control sentences that name none (some with words that sound like a
name: "it kills germs", "one plus one"), and how a transcript is scored.

Scoring a name: it counts as recalled when the transcript spells it as the list
writes it, ignoring case, spaces, accents and punctuation (:func:`compact`); "one
plus 12 R" is not "OnePlus 12R" before respelling, since a viewer reads it so.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from ..core.text import is_cjk_language
from ..core.vocabulary import Vocabulary, compact, parse_vocabulary
from ..types import Word


@dataclass(frozen=True)
class ProductSentence:
    lang: str  # Whisper code
    text: str
    terms: tuple[str, ...]  # the names it says, as the list writes them


def _s(lang: str, text: str, *terms: str) -> ProductSentence:
    return ProductSentence(lang, text, terms)


EN = (
    _s("en", "Grab the Anker Nano Power Bank today, it charges two phones at once.", "Anker Nano Power Bank"),
    _s("en", "The OnePlus 12R is only four hundred dollars right now.", "OnePlus 12R"),
    _s("en", "This moisturiser from Kiehl's is my favourite for winter.", "Kiehl's"),
    _s("en", "If you want salon hair at home, the Dyson Airwrap is the one.", "Dyson Airwrap"),
    _s("en", "We also have the Xiaomi Redmi Note 13 in blue and green.", "Xiaomi Redmi Note 13"),
    _s("en", "Pair it with Huawei FreeBuds and you are set for the gym.", "Huawei FreeBuds"),
    _s("en", "These leggings are from Lululemon and they never go see-through.", "Lululemon"),
    _s("en", "The Ninja Creami turns frozen fruit into ice cream in minutes.", "Ninja Creami"),
    _s("en", "Everyone at the office carries a Stanley Quencher now.", "Stanley Quencher"),
    _s("en", "This Ugreen Nexode charger is smaller than a deck of cards.", "Ugreen Nexode"),
    _s("en", "The Oura Ring tracks your sleep without a watch.", "Oura Ring"),
    _s("en", "After a long run I use the Theragun Mini on my calves.", "Theragun Mini"),
    _s("en", "Glossier balm goes on every morning before anything else.", "Glossier"),
    _s("en", "CeraVe cleanser is gentle enough for sensitive skin.", "CeraVe"),
    _s("en", "The sunscreen from La Roche-Posay does not leave a white cast.", "La Roche-Posay"),
    _s("en", "Fenty Beauty has forty shades of this foundation.", "Fenty Beauty"),
    _s("en", "For cycling I wear Shokz OpenRun so I can hear the traffic.", "Shokz OpenRun"),
    _s("en", "The Logitech MX Master is the best mouse I have ever used.", "Logitech MX Master"),
    _s("en", "Clip your phone into the Razer Kishi and play anywhere.", "Razer Kishi"),
    _s("en", "We filmed this whole stream on an Insta360 X4.", "Insta360 X4"),
    _s("en", "The DJI Osmo Pocket fits in any jacket.", "DJI Osmo Pocket"),
    _s("en", "Put a Sonos Era 100 in the kitchen and one in the bedroom.", "Sonos Era 100"),
    _s("en", "On the plane nothing beats Bose QuietComfort.", "Bose QuietComfort"),
    _s("en", "My kids love the Owala FreeSip because it never leaks.", "Owala FreeSip"),
    _s("en", "Laneige lip mask is back in stock tonight.", "Laneige"),
    _s("en", "Olaplex repairs bleached hair after one wash.", "Olaplex"),
    _s("en", "Drunk Elephant serum sold out in ten minutes last time.", "Drunk Elephant"),
    _s("en", "Tatcha cream and Sephora gift cards are in the bundle.", "Tatcha", "Sephora"),
    _s("en", "The Baseus cable and the Skullcandy earbuds ship together.", "Baseus", "Skullcandy"),
    _s("en", "Rhode peptide lip tint comes in four colours.", "Rhode"),
)

ES = (
    _s("es", "Tenemos una oferta relámpago solo durante diez minutos.", "oferta relámpago"),
    _s("es", "Compra en Mercado Libre y recibe el paquete mañana.", "Mercado Libre"),
    _s("es", "El Samsung Galaxy A55 tiene la mejor cámara de su precio.", "Samsung Galaxy A55"),
    _s("es", "El Motorola Edge 50 viene con cargador rápido.", "Motorola Edge 50"),
    _s("es", "Esta crema de Natura Ekos huele a selva.", "Natura Ekos"),
    _s("es", "Las chaquetas de Bershka llegaron en tres colores.", "Bershka"),
    _s("es", "El perfume de Carolina Herrera es el más vendido.", "Carolina Herrera"),
    _s("es", "Con Mercado Pago puedes pagar en seis meses.", "Mercado Pago"),
    _s("es", "La licuadora Oster está con envío gratis.", "Oster", "envío gratis"),
    _s("es", "El bolso de Tous es perfecto para regalar.", "Tous"),
    _s("es", "Los tenis Adidas Samba vuelven a estar disponibles.", "Adidas Samba"),
    _s("es", "La freidora Cosori cocina sin aceite.", "Cosori"),
)

ZH = (
    _s("zh", "完美日记的口红今天买一送一。", "完美日记"),
    _s("zh", "泡泡玛特的盲盒已经上架了。", "泡泡玛特"),
    _s("zh", "花西子的散粉很适合油皮。", "花西子"),
    _s("zh", "这双李宁跑鞋非常轻。", "李宁"),
    _s("zh", "元气森林的气泡水买两箱更便宜。", "元气森林"),
    _s("zh", "三只松鼠的坚果礼盒马上开抢。", "三只松鼠"),
    _s("zh", "蜜雪冰城的优惠券在购物车里。", "蜜雪冰城"),
    _s("zh", "珀莱雅的精华今晚有赠品。", "珀莱雅"),
    _s("zh", "安踏的运动外套只要两百块。", "安踏"),
    _s("zh", "百雀羚的面霜是国货经典。", "百雀羚"),
)

CONTROL = (
    _s("en", "Thanks for joining the stream tonight, tell your friends to come along."),
    _s("en", "This soap kills germs and smells like fresh lemons."),
    _s("en", "One plus one is two, so buy one and get the second free."),
    _s("en", "The keel of the boat was painted red and white."),
    _s("en", "Drop a heart in the chat if you can hear me clearly."),
    _s("en", "The ring on my hand is a gift from my grandmother."),
    _s("en", "We will be back tomorrow at eight with more surprises."),
    _s("en", "The glossy paper makes the photos look brighter."),
    _s("es", "Gracias por acompañarnos esta noche, nos vemos mañana."),
    _s("es", "El mercado del barrio abre a las ocho de la mañana."),
    _s("es", "Escribe en el chat de qué color lo quieres."),
    _s("zh", "谢谢大家今天来看直播，明天见。"),
    _s("zh", "喜欢的朋友可以点个关注。"),
)

# Extra terms in the vocabulary that no sentence says: a real list holds more
# products than one segment of the show names.
UNSAID = ("Anker Soundcore", "Nintendo Switch", "Apple AirPods Pro", "Ray-Ban Meta", "自然堂", "小米手环")


def product_vocabulary(sentences: Iterable[ProductSentence] = (*EN, *ES, *ZH)) -> Vocabulary:
    """Every name the sentences say, each with its language, and the unsaid ones."""
    entries: dict[str, dict[str, str]] = {}
    for sentence in sentences:
        for term in sentence.terms:
            entries.setdefault(term, {"term": term, "source": sentence.lang})
    for term in UNSAID:
        entries.setdefault(term, {"term": term})
    return parse_vocabulary(list(entries.values()), "product vocabulary")


def count_term(term: str, text: str) -> int:
    """How many times ``text`` spells ``term``, case, spaces, accents and punctuation aside."""
    needle, haystack = compact(term), compact(text)
    return haystack.count(needle) if needle else 0


@dataclass(frozen=True)
class TermScore:
    said: int  # names said
    recalled: int  # of those, written as the list writes them
    inserted: int  # names written beyond what was said (in product and control speech)

    @property
    def recall(self) -> float:
        return self.recalled / self.said if self.said else 1.0


def score_terms(
    sentences: Sequence[ProductSentence], transcript: str, vocabulary: Vocabulary
) -> TermScore:
    """Names said and recalled in one transcript of ``sentences`` spoken in order;
    any vocabulary term written more often than said is an insertion."""
    said: dict[str, int] = {}
    for sentence in sentences:
        for term in sentence.terms:
            said[term] = said.get(term, 0) + 1
    recalled = inserted = 0
    for term in {t.term for t in vocabulary.terms} | set(said):
        heard = count_term(term, transcript)
        recalled += min(heard, said.get(term, 0))
        inserted += max(0, heard - said.get(term, 0))
    return TermScore(sum(said.values()), recalled, inserted)


def as_words(text: str, language: str, probability: float) -> list[Word]:
    """``text`` as Whisper's word timestamps give it, each word ``probability``: a
    word a space-separated token, or in a CJK language (``is_cjk_language``) a
    character, punctuation on the character before. Used for Chinese; Korean, which
    Whisper splits at spaces, would need the first way."""
    if not is_cjk_language(language):
        return [Word(float(i), i + 0.9, " " + token, probability) for i, token in enumerate(text.split())]
    words: list[Word] = []
    for c in text:
        if words and not c.isalnum():
            words[-1] = Word(words[-1].start, words[-1].end, words[-1].text + c, probability)
        elif not c.isspace():
            words.append(Word(float(len(words)), len(words) + 0.9, c, probability))
    return words


def respelt_everyday(
    vocabulary: Vocabulary, sentences: Iterable[str], language: str, probability: float,
    everyday: Container[str] = frozenset(),
) -> list[str]:
    """The sentences of ordinary text (naming no product) that respelling would change,
    each word given ``probability`` as if Whisper wrote it so: every change is a false
    hit of the near-miss rules."""
    changed = []
    for sentence in sentences:
        words = as_words(sentence, language, probability)
        respelt = vocabulary.respell(words, language, everyday)
        if respelt != words:
            changed.append("".join(w.text for w in respelt).strip())
    return changed
