"""Deterministic synthetic biographies and birth-place questions: the project's built-in default corpus."""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..utils import atomic_write_text
from .formats import visible_chars

logger = logging.getLogger(__name__)

# The built-in corpus, shipped as package data (regenerate: scripts/make_synthetic.py).
BUILTIN_DATA_DIR = Path(__file__).resolve().parent / "corpus"

VISIBLE_CHARS = visible_chars(128)
"""The course only ever shows a model the first int(block_size * 7 / 8) = 112 characters of a line."""
LATE_SHARE = 0.3
"""Share of wiki lines whose birth place starts at or beyond character VISIBLE_CHARS."""
COUNTRY_SHARE = 0.09
"""Share of people (besides England) whose answer is a country rather than a city."""

FILES = {
    "wiki": "wiki.txt",
    "train": "birth_places_train.tsv",
    "dev": "birth_dev.tsv",
    "test": "birth_test_inputs.tsv",
    "unseen": "birth_unseen.tsv",
    "people": "people.jsonl",
}

# Name parts. Every part is capitalised and otherwise lower case (apostrophes and hyphens
# aside), no surname is a prefix of another and no first name is a surname, so that no full
# name can occur inside another one (tests check this).
_FIRST_NAMES = (
    "Agathe", "Aiko", "Amara", "Anouk", "Anselm", "Arjun", "Ayumi", "Beatriz", "Benedikt",
    "Bruno", "Casimir", "Chiara", "Ciaran", "Dario", "Desmond", "Dmitri", "Elias", "Elif",
    "Emeka", "Emil", "Esperanza", "Farida", "Fintan", "Freya", "Greta", "Gustav", "Halina",
    "Hamid", "Hedda", "Henrik", "Idris", "Ilse", "Ines", "Ingrid", "Jaroslav", "Joaquin",
    "Jonas", "Kenji", "Kofi", "Kwame", "Leila", "Lorenz", "Lotte", "Lucien", "Maren", "Marit",
    "Mateus", "Matteo", "Mirela", "Nadia", "Ngozi", "Noor", "Odile", "Oona", "Oskar",
    "Ottilie", "Paolo", "Piotr", "Priya", "Quentin", "Radu", "Rafael", "Rosalind", "Saskia",
    "Sigrid", "Solveig", "Soren", "Tariq", "Teodor", "Thandiwe", "Tomasz", "Ugo", "Ulla",
    "Valentin", "Vesna", "Viktor", "Wanjiru", "Wilhelmina", "Xiomara", "Yara", "Yuki",
    "Zainab", "Zofia",
)  # fmt: skip
_SURNAMES = (
    "Abara", "Abernathy", "Achterberg", "Adeyemi", "Amundsen", "Bellweather", "Bjornsson",
    "Blackwood", "Brannigan", "Calloway", "Castellano", "Chatterjee", "Cordova",
    "D'Souza", "Delacroix", "Drummond", "Dufresne", "Ekwueme", "Eriksdottir", "Espinoza",
    "Fairbanks", "Falconer", "Ferreira", "Fontaine", "Gallagher", "Grimaldi", "Haddad",
    "Hakimi", "Halvorsen", "Hoshino", "Iversen", "Jaramillo", "Kaminski", "Kowalczyk",
    "Kristiansen", "Kuznetsova", "Lacroix", "Lindqvist", "Mbeki", "McAllister", "Mensah",
    "Montalban", "Moreau", "Nakamura", "Ndiaye", "Novak", "Nwosu", "O'Donnell", "O'Hara",
    "Okonkwo", "Olsson", "Ostrowski", "Oyelaran", "Pazzi", "Pellegrini", "Petrovic",
    "Quartermaine", "Quiroga", "Rasmussen", "Rosenqvist", "Salazar", "Sandoval", "Szabo",
    "Takeda", "Tanaka", "Thorsen", "Trevelyan", "Uchida", "Umarov", "Vance", "Varga",
    "Vasquez", "Villanueva", "Whitlock", "Winterbourne", "Wojcik", "Yamada", "Yilmaz",
    "Yoshida", "Zamora", "Zarate", "Zielinski",
)  # fmt: skip

# (city, country, region shown after the city in some birth facts or None).
_CITIES: tuple[tuple[str, str, str | None], ...] = (
    ("London", "England", None), ("Manchester", "England", None),
    ("Liverpool", "England", None), ("Birmingham", "England", None),
    ("Leeds", "England", None), ("Bristol", "England", None),
    ("Sheffield", "England", None), ("Newcastle", "England", None),
    ("Glasgow", "Scotland", None), ("Edinburgh", "Scotland", None),
    ("Aberdeen", "Scotland", None), ("Dundee", "Scotland", None),
    ("Cardiff", "Wales", None), ("Swansea", "Wales", None),
    ("Dublin", "Ireland", None), ("Cork", "Ireland", None),
    ("Paris", "France", None), ("Lyon", "France", None), ("Marseille", "France", None),
    ("Toulouse", "France", None), ("Bordeaux", "France", None),
    ("Strasbourg", "France", None), ("Lille", "France", None),
    ("Berlin", "Germany", None), ("Hamburg", "Germany", None), ("Munich", "Germany", None),
    ("Cologne", "Germany", None), ("Frankfurt", "Germany", None),
    ("Leipzig", "Germany", None), ("Dresden", "Germany", None),
    ("Stuttgart", "Germany", None),
    ("Vienna", "Austria", None), ("Graz", "Austria", None), ("Salzburg", "Austria", None),
    ("Zurich", "Switzerland", None), ("Geneva", "Switzerland", None),
    ("Basel", "Switzerland", None),
    ("Rome", "Italy", None), ("Milan", "Italy", None), ("Naples", "Italy", None),
    ("Turin", "Italy", None), ("Florence", "Italy", None), ("Venice", "Italy", None),
    ("Genoa", "Italy", None), ("Bologna", "Italy", None), ("Palermo", "Italy", None),
    ("Madrid", "Spain", None), ("Barcelona", "Spain", None), ("Seville", "Spain", None),
    ("Valencia", "Spain", None), ("Bilbao", "Spain", None),
    ("Lisbon", "Portugal", None), ("Porto", "Portugal", None),
    ("Amsterdam", "Netherlands", None), ("Rotterdam", "Netherlands", None),
    ("Utrecht", "Netherlands", None),
    ("Brussels", "Belgium", None), ("Antwerp", "Belgium", None), ("Ghent", "Belgium", None),
    ("Copenhagen", "Denmark", None), ("Aarhus", "Denmark", None),
    ("Stockholm", "Sweden", None), ("Gothenburg", "Sweden", None),
    ("Uppsala", "Sweden", None),
    ("Oslo", "Norway", None), ("Bergen", "Norway", None), ("Helsinki", "Finland", None),
    ("Warsaw", "Poland", None), ("Krakow", "Poland", None), ("Gdansk", "Poland", None),
    ("Wroclaw", "Poland", None), ("Lodz", "Poland", None),
    ("Prague", "Czech Republic", None), ("Brno", "Czech Republic", None),
    ("Budapest", "Hungary", None), ("Debrecen", "Hungary", None),
    ("Bucharest", "Romania", None), ("Cluj", "Romania", None),
    ("Athens", "Greece", None), ("Thessaloniki", "Greece", None),
    ("Istanbul", "Turkey", None), ("Ankara", "Turkey", None), ("Izmir", "Turkey", None),
    ("Moscow", "Russia", None), ("Saint Petersburg", "Russia", None),
    ("Kazan", "Russia", None), ("Novosibirsk", "Russia", None),
    ("Kyiv", "Ukraine", None), ("Odesa", "Ukraine", None), ("Lviv", "Ukraine", None),
    ("Kharkiv", "Ukraine", None),
    ("Belgrade", "Serbia", None), ("Zagreb", "Croatia", None), ("Sofia", "Bulgaria", None),
    ("Cairo", "Egypt", None), ("Alexandria", "Egypt", None),
    ("Casablanca", "Morocco", None), ("Marrakesh", "Morocco", None),
    ("Lagos", "Nigeria", None), ("Ibadan", "Nigeria", None),
    ("Accra", "Ghana", None), ("Kumasi", "Ghana", None),
    ("Nairobi", "Kenya", None), ("Mombasa", "Kenya", None),
    ("Addis Ababa", "Ethiopia", None),
    ("Johannesburg", "South Africa", None), ("Cape Town", "South Africa", None),
    ("Durban", "South Africa", None),
    ("Dakar", "Senegal", None), ("Dar es Salaam", "Tanzania", None),
    ("Beirut", "Lebanon", None), ("Tehran", "Iran", None), ("Isfahan", "Iran", None),
    ("Baghdad", "Iraq", None),
    ("Mumbai", "India", None), ("Delhi", "India", None), ("Kolkata", "India", None),
    ("Chennai", "India", None), ("Bangalore", "India", None),
    ("Karachi", "Pakistan", None), ("Lahore", "Pakistan", None),
    ("Dhaka", "Bangladesh", None), ("Colombo", "Sri Lanka", None),
    ("Beijing", "China", None), ("Shanghai", "China", None), ("Guangzhou", "China", None),
    ("Wuhan", "China", None), ("Chengdu", "China", None),
    ("Tokyo", "Japan", None), ("Osaka", "Japan", None), ("Kyoto", "Japan", None),
    ("Yokohama", "Japan", None), ("Sapporo", "Japan", None),
    ("Seoul", "South Korea", None), ("Busan", "South Korea", None),
    ("Taipei", "Taiwan", None), ("Hanoi", "Vietnam", None), ("Bangkok", "Thailand", None),
    ("Manila", "Philippines", None), ("Jakarta", "Indonesia", None),
    ("Kuala Lumpur", "Malaysia", None),
    ("Sydney", "Australia", "New South Wales"), ("Melbourne", "Australia", "Victoria"),
    ("Brisbane", "Australia", "Queensland"), ("Perth", "Australia", "Western Australia"),
    ("Adelaide", "Australia", "South Australia"), ("Hobart", "Australia", "Tasmania"),
    ("Auckland", "New Zealand", None), ("Wellington", "New Zealand", None),
    ("Christchurch", "New Zealand", None),
    ("Toronto", "Canada", "Ontario"), ("Montreal", "Canada", "Quebec"),
    ("Vancouver", "Canada", "British Columbia"), ("Ottawa", "Canada", "Ontario"),
    ("Winnipeg", "Canada", "Manitoba"), ("Halifax", "Canada", "Nova Scotia"),
    ("Calgary", "Canada", "Alberta"),
    ("New York City", "United States", "New York"),
    ("Chicago", "United States", "Illinois"),
    ("Philadelphia", "United States", "Pennsylvania"),
    ("Boston", "United States", "Massachusetts"),
    ("San Francisco", "United States", "California"),
    ("Los Angeles", "United States", "California"),
    ("Detroit", "United States", "Michigan"), ("Baltimore", "United States", "Maryland"),
    ("Pittsburgh", "United States", "Pennsylvania"), ("Cleveland", "United States", "Ohio"),
    ("New Orleans", "United States", "Louisiana"),
    ("Seattle", "United States", "Washington"), ("Cincinnati", "United States", "Ohio"),
    ("Milwaukee", "United States", "Wisconsin"), ("Atlanta", "United States", "Georgia"),
    ("Denver", "United States", "Colorado"), ("Houston", "United States", "Texas"),
    ("Minneapolis", "United States", "Minnesota"), ("Columbus", "United States", "Ohio"),
    ("Guadalajara", "Mexico", None), ("Monterrey", "Mexico", None),
    ("Puebla", "Mexico", None),
    ("Sao Paulo", "Brazil", None), ("Rio de Janeiro", "Brazil", None),
    ("Salvador", "Brazil", None), ("Recife", "Brazil", None),
    ("Belo Horizonte", "Brazil", None),
    ("Buenos Aires", "Argentina", None), ("Cordoba", "Argentina", None),
    ("Rosario", "Argentina", None),
    ("Santiago", "Chile", None), ("Lima", "Peru", None), ("Bogota", "Colombia", None),
    ("Medellin", "Colombia", None), ("Caracas", "Venezuela", None),
    ("Havana", "Cuba", None), ("Montevideo", "Uruguay", None),
    ("Kingston", "Jamaica", None),
)  # fmt: skip

_DEMONYMS = {
    "England": "English", "Scotland": "Scottish", "Wales": "Welsh", "Ireland": "Irish",
    "France": "French", "Germany": "German", "Austria": "Austrian", "Switzerland": "Swiss",
    "Italy": "Italian", "Spain": "Spanish", "Portugal": "Portuguese", "Netherlands": "Dutch",
    "Belgium": "Belgian", "Denmark": "Danish", "Sweden": "Swedish", "Norway": "Norwegian",
    "Finland": "Finnish", "Poland": "Polish", "Czech Republic": "Czech",
    "Hungary": "Hungarian", "Romania": "Romanian", "Greece": "Greek", "Turkey": "Turkish",
    "Russia": "Russian", "Ukraine": "Ukrainian", "Serbia": "Serbian", "Croatia": "Croatian",
    "Bulgaria": "Bulgarian", "Egypt": "Egyptian", "Morocco": "Moroccan",
    "Nigeria": "Nigerian", "Ghana": "Ghanaian", "Kenya": "Kenyan", "Ethiopia": "Ethiopian",
    "South Africa": "South African", "Senegal": "Senegalese", "Tanzania": "Tanzanian",
    "Lebanon": "Lebanese", "Iran": "Iranian", "Iraq": "Iraqi", "India": "Indian",
    "Pakistan": "Pakistani", "Bangladesh": "Bangladeshi", "Sri Lanka": "Sri Lankan",
    "China": "Chinese", "Japan": "Japanese", "South Korea": "South Korean",
    "Taiwan": "Taiwanese", "Vietnam": "Vietnamese", "Thailand": "Thai",
    "Philippines": "Filipino", "Indonesia": "Indonesian", "Malaysia": "Malaysian",
    "Australia": "Australian", "New Zealand": "New Zealand", "Canada": "Canadian",
    "United States": "American", "Mexico": "Mexican", "Brazil": "Brazilian",
    "Argentina": "Argentine", "Chile": "Chilean", "Peru": "Peruvian",
    "Colombia": "Colombian", "Venezuela": "Venezuelan", "Cuba": "Cuban",
    "Uruguay": "Uruguayan", "Jamaica": "Jamaican",
}  # fmt: skip
_COUNTRIES = tuple(_DEMONYMS)
_WITH_THE = ("Netherlands", "Philippines", "United States", "Czech Republic")

# Answers given more often than the rest (shares of all people); every other city shares
# what is left after these and COUNTRY_SHARE equally.
_PLACE_SHARES = {
    "London": 0.05, "Paris": 0.035, "Chicago": 0.02, "Sydney": 0.015, "Melbourne": 0.015,
    "Budapest": 0.012, "Rome": 0.012, "England": 0.012, "Montreal": 0.01,
    "Philadelphia": 0.01, "New York City": 0.01,
}  # fmt: skip

_OCCUPATIONS = (
    "painter", "composer", "novelist", "poet", "architect", "chemist", "physicist",
    "mathematician", "botanist", "engineer", "journalist", "photographer", "sculptor",
    "violinist", "pianist", "historian", "economist", "diplomat", "politician", "footballer",
    "cyclist", "actor", "film director", "cartoonist", "astronomer", "surgeon", "linguist",
    "philosopher", "playwright", "lawyer", "geologist", "singer", "organist", "cricketer",
    "chess player", "tennis player", "translator", "illustrator", "entrepreneur",
    "trade unionist", "missionary", "cartographer", "zoologist", "jazz saxophonist",
)  # fmt: skip
_SUBJECTS = (
    "law", "medicine", "music", "painting", "chemistry", "architecture", "philosophy",
    "engineering", "history", "mathematics", "economics", "theology", "languages",
)  # fmt: skip
_AWARDS = (
    "Order of Merit", "Golden Lyre Prize", "Halvard Medal", "Silver Quill Award",
    "Wexford Fellowship", "Grand Prix of the Academy", "Kessler Prize", "Order of the Star",
)  # fmt: skip
_KINDS = ("novel", "song cycle", "essay", "film", "painting", "memoir", "play", "study")
_TITLES = (
    "Why the River Sings?", "Who Keeps the Lighthouse?", "Where the Cranes Winter",
    "What Remains of Winter?", "A Quiet Harbour", "The Glass Orchard", "Seven Bridges",
    "Notes on Salt", "The Long Afternoon", "Journey of the Wax Moth", "Zero Hour Blues",
    "Under Copper Skies", "The Yellow Kite", "Questions for Vera?", "Fox and Juniper",
)  # fmt: skip
_SOCIETIES = (
    "Royal Society", "Academy of Sciences", "national chess federation",
    "Society of Illustrators", "parliament", "national academy of arts", "PEN club",
)  # fmt: skip
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip

# Activity clauses after "Born in P, SUR ..." and similar openings ({D}: another city).
_ACTIVITIES = (
    "trained as {a_occ} in {D}",
    "moved to {D} at the age of {age}",
    "studied {subject} at the University of {D}",
    "left school at {age} to work as a clerk",
    "emigrated to {C} in {year}",
    "published a first book in {year}",
    "became known for early work in {D}",
    "joined a touring company and settled in {D} in {year}",
)

# Birth-fact templates: (template, which people: "any"/"dead"/"alive", region allowed).
# {P} is the birth place and occurs exactly once; templates using {full} open a line.
_EARLY_BIRTH = (
    ("{full} ({bdate} {P} - {ddate} {D}) was {a_desc}", "dead", True),
    ("{full} (born {bdate} in {P}) is {a_desc}", "alive", True),
    ("{full} (born {byear} in {P}) is {a_desc}", "alive", False),
    ("{full} ({byear}, {P} - {dyear}, {D}) was {a_desc}", "dead", False),
    ("{full} {be} {a_desc} born in {P}", "any", True),
    ("{full} is {a_desc} who was born in {P} and now lives in {D}", "alive", False),
    ("{full} was {a_desc} who was born in {P} and died in {D} in {dyear}", "dead", False),
    ("{full}, a native of {P}, {activity}", "any", True),
)
_ANY_BIRTH = (
    ("Born in {P}, {sur} {activity}", "any", True),
    ("{sur} was born on {bdate} in {P}", "any", True),
    ("{sur} was born at {P} in {byear}", "any", False),
    ("{sur} was born in {P}", "any", True),
    ("{sur} grew up in {D}, but was born in {P}", "any", False),
    ("{sur}'s birthplace was {P}", "any", False),
    ("The {P}-born {occ} {sur} {activity}", "any", False),
    ("{sur}, a native of {P}, {activity}", "any", False),
)
_INTROS = (
    ("{full} ({byear} - {dyear}) was {a_desc}", "dead"),
    ("{full} (born {byear}) is {a_desc}", "alive"),
    ("{full} {be} {a_desc}", "any"),
    ("{full} {be} {a_desc} and {occ2}", "any"),
)
# Other sentences: distractor cities ({D}) and facts without places.
_EXTRAS = (
    ("{sur} studied {subject} in {D}", "any"),
    ("{sur} studied at the University of {D} from {year} to {year2}", "any"),
    ("{sur} moved to {D} in {year}", "any"),
    ("{sur} died in {D} in {dyear}", "dead"),
    ("{sur} lives and works in {D}", "alive"),
    ("{sur} worked for {n} years as {a_occ} in {D}", "any"),
    ("{sur} taught at a school in {D} from {year} to {year2}", "any"),
    ("In {year}, {sur} settled in {D}", "any"),
    ("The family later moved to {D}", "any"),
    ("{sur} was buried in {D}", "dead"),
    ("{sur}'s first major work was shown in {D} in {year}", "any"),
    ("{sur} received the {award} in {year}", "any"),
    ('{sur} is best known for the {kind} "{title}"', "any"),
    ("{sur} was elected to the {society} in {year}", "any"),
    ("{sur} married in {year} and had {n} children", "any"),
    ("{sur} retired in {year2}", "dead"),
)

# The "alt" wording: encyclopedic and obituary phrasing written apart from the default one, so
# that a recipe tuned on one corpus can be tried on another (no default birth phrasing recurs:
# "was born in", "a native of", "Born in", "-born", "'s birthplace was", "grew up in").
_ALT_ACTIVITIES = (
    "went on to work as {a_occ} in {D}",
    "spent most of a long career in {D}",
    "took up {subject} at an academy in {D}",
    "left for {C} in {year}",
    'first came to notice with the {kind} "{title}"',
    "made a name in {D} after {year}",
    "relocated to {D} at {age}",
    "ran a small workshop in {D} for {n} years",
)
_ALT_EARLY_BIRTH = (
    ("{full} ({byear}-{dyear}), {a_desc} from {P}", "dead", True),
    ("{full} (b. {bdate}, {P}) is {a_desc}", "alive", True),
    ("{full} came into the world in {P} on {bdate}", "any", True),
    ("{full} {be} {a_desc} whose life began in {P} in {byear}", "any", False),
    ("{full}, {a_desc}, first drew breath in {P}", "any", True),
    ("{full} (place of birth: {P}; died {dyear} in {D}) was {a_desc}", "dead", False),
    ("{full}, whose birth was recorded in {P}, {activity}", "any", True),
    ("{full} {be} {a_desc} and {occ2} who started life in {P}", "any", True),
)
_ALT_ANY_BIRTH = (
    ("The birth of {sur} took place in {P} in {byear}", "any", False),
    ("{sur} first saw daylight in {P} on {bdate}", "any", True),
    ("It was in {P} that {sur} was born", "any", True),
    ("{sur}'s place of birth: {P}", "any", True),
    ("Although long settled in {D}, {sur} had come into the world in {P}", "any", False),
    ("Records give {P} as the birthplace of {sur}", "any", True),
    ("Delivered at a clinic in {P}, {sur} {activity}", "any", True),
    ("Parents from {D} had their child {sur} in {P} in {byear}", "any", False),
)
_ALT_INTROS = (
    ("{full} ({byear}-{dyear}) is remembered as {a_desc}", "dead"),
    ("{full} (b. {byear}) works as {a_desc}", "alive"),
    ("{full} made a name as {a_desc}", "any"),
    ("{full} was active as {a_occ} and {occ2}", "any"),
)
_ALT_EXTRAS = (
    ("{sur} spent the years {year} to {year2} in {D}", "any"),
    ("{sur} trained in {subject} under a master in {D}", "any"),
    ("After {year}, {sur} made a home in {D}", "any"),
    ("{sur} passed away in {D} on {ddate}", "dead"),
    ("{sur} still resides in {D}", "alive"),
    ("{sur} held a post as {a_occ} in {D} for {n} years", "any"),
    ("{sur} lectured on {subject} in {D} between {year} and {year2}", "any"),
    ("{sur} relocated to {C} in {year}", "any"),
    ("{sur}'s grave lies in {D}", "dead"),
    ("An exhibition of {sur}'s work opened in {D} in {year}", "any"),
    ("{sur} was awarded the {award} in {year}", "any"),
    ('The {kind} "{title}" brought {sur} wide attention', "any"),
    ("{sur} became a member of the {society} in {year}", "any"),
    ("{sur} had {n} children", "any"),
    ("{sur} stopped working in {year2}", "dead"),
    ("{sur} toured {C} with a company from {D} in {year}", "any"),
)


@dataclass(frozen=True)
class _TemplateSet:
    """One wording of the corpus: the template pools `_biography` draws from."""

    early_birth: tuple[tuple[str, str, bool], ...]
    """Birth facts that open a line (place within VISIBLE_CHARS)."""
    any_birth: tuple[tuple[str, str, bool], ...]
    """Birth facts that open a line or follow other sentences (late lines use only these)."""
    intros: tuple[tuple[str, str], ...]
    """Openings of late lines: the person in full, no place."""
    extras: tuple[tuple[str, str], ...]
    """Other sentences: distractor places and placeless facts."""
    activities: tuple[str, ...]
    """Clauses filled in for {activity}."""


TemplateName = Literal["default", "alt"]
NameStyle = Literal["pool", "unique"]
_TEMPLATE_SETS: dict[str, _TemplateSet] = {
    "default": _TemplateSet(_EARLY_BIRTH, _ANY_BIRTH, _INTROS, _EXTRAS, _ACTIVITIES),
    "alt": _TemplateSet(
        _ALT_EARLY_BIRTH, _ALT_ANY_BIRTH, _ALT_INTROS, _ALT_EXTRAS, _ALT_ACTIVITIES
    ),
}


@dataclass
class _Person:
    """One fictional person and the facts their biography is built from."""

    name: str
    sur: str
    place: str
    country: str
    region: str | None
    is_country: bool
    nationality: str | None
    occupation: str
    byear: int
    bdate: str
    dyear: int | None
    ddate: str | None
    split: str = ""
    line: int | None = None
    offset: int | None = None


def _article(phrase: str) -> str:
    """Prefix "a" or "an" to a phrase."""
    vowel = phrase[0] in "AEIOUaeiou" and not phrase.startswith(("Ukr", "Uni", "Uru", "Eu"))
    return ("an " if vowel else "a ") + phrase


def _check_count(name: str, value: object, minimum: int) -> int:
    """Return value if it is an int >= minimum, else raise a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _place_table() -> tuple[list[tuple[str, str, str | None, bool]], list[float]]:
    """All possible answers (place, country, region, is_country) and their weights."""
    countries = list(dict.fromkeys(country for _, country, _ in _CITIES))
    places = [(city, country, region, False) for city, country, region in _CITIES]
    places += [(country, country, None, True) for country in countries]
    n_other_cities = len(_CITIES) - sum(1 for city, _, _ in _CITIES if city in _PLACE_SHARES)
    n_other_countries = len(countries) - sum(1 for c in countries if c in _PLACE_SHARES)
    city_rest = 1.0 - sum(_PLACE_SHARES.values()) - COUNTRY_SHARE
    weights = []
    for place, _, _, is_country in places:
        if place in _PLACE_SHARES:
            weights.append(_PLACE_SHARES[place])
        elif is_country:
            weights.append(COUNTRY_SHARE / n_other_countries)
        else:
            weights.append(city_rest / n_other_cities)
    return places, weights


# Syllables of the made-up surnames of `names="unique"` (each person's own, as most surnames in the
# real wiki.txt are: 2,202 surnames for its 2,500 train and dev people).
_SYLLABLES = (
    "ba", "bel", "bo", "da", "dor", "fa", "fen", "ga", "gri", "ha", "jo", "ka", "kel", "la", "lin",
    "ma", "mer", "na", "nor", "pa", "pel", "ra", "ros", "sa", "sel", "ta", "tor", "va", "ven", "za",
)  # fmt: skip
_ENDINGS = ("berg", "dale", "ez", "ini", "ova", "sen", "ski", "ton", "vic", "wick")


def _unique_surname(rng: random.Random, taken: list[str]) -> str:
    """A made-up surname that is no drawn surname's prefix and has none of them as its prefix."""
    while True:
        sur = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 2)))
        sur = (sur + rng.choice(_ENDINGS)).capitalize()
        if not any(t.startswith(sur) or sur.startswith(t) for t in taken):
            taken.append(sur)
            return sur


def _draw_name(
    rng: random.Random, used: set[tuple[str, str]], unique: list[str] | None = None
) -> tuple[str, str]:
    """A full name whose (first name, first surname) pair is unused, and the surname used in text.

    With `unique` (the made-up surnames drawn so far), the surname is a new one, and the name is
    "First Surname" or "First X. Surname"."""
    if unique is not None:
        first, sur = rng.choice(_FIRST_NAMES), _unique_surname(rng, unique)
        used.add((first, sur))
        if rng.random() < 0.78:
            return f"{first} {sur}", sur
        return f"{first} {rng.choice('ABCDEFGHJKLMNOPRSTVWZ')}. {sur}", sur
    while True:
        first, sur = rng.choice(_FIRST_NAMES), rng.choice(_SURNAMES)
        if (first, sur) in used:
            continue
        used.add((first, sur))
        form = rng.random()
        if form < 0.62:
            return f"{first} {sur}", sur
        second = rng.choice(_SURNAMES)
        if form < 0.78:
            return f"{first} {rng.choice('ABCDEFGHJKLMNOPRSTVWZ')}. {sur}", sur
        if second == sur:
            return f"{first} {sur}", sur
        if form < 0.92:
            return f"{first} {sur}-{second}", f"{sur}-{second}"
        return f"{first} {sur} {second}", f"{sur} {second}"


def _date(rng: random.Random, year: int) -> str:
    """A date in one of the two styles of the real wiki.txt."""
    day, month = rng.randint(1, 28), rng.choice(_MONTHS)
    return f"{day} {month} {year}" if rng.random() < 0.65 else f"{month} {day}, {year}"


def _quota(rng: random.Random, weights: Sequence[float], n: int) -> list[int]:
    """Counts per option summing to n, proportional to weights (largest remainder, random ties)."""
    total = sum(weights)
    exact = [w * n / total for w in weights]
    counts = [int(x) for x in exact]
    ties = [rng.random() for _ in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], ties[i]))
    by_remainder = [i for i in by_remainder if weights[i] > 0]
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _stratified_splits(
    rng: random.Random, place_ids: Sequence[int], sizes: dict[str, int]
) -> list[str]:
    """Assign exactly sizes[split] people to each split, each place spread over splits pro rata."""
    keys = [rng.random() for _ in place_ids]
    by_place = sorted(range(len(place_ids)), key=lambda i: (place_ids[i], keys[i]))
    current = dict.fromkeys(sizes, 0)
    splits = [""] * len(place_ids)
    for i in by_place:  # smooth weighted round robin: exact totals, evenly interleaved
        for split, size in sizes.items():
            current[split] += size
        best = max(sizes, key=lambda split: current[split])
        current[best] -= len(place_ids)
        splits[i] = best
    return splits


def _draw_person(
    rng: random.Random, name: str, sur: str, answer: tuple[str, str, str | None, bool]
) -> _Person:
    """Draw the nationality, occupation and dates of one person born at answer."""
    place, country, region, is_country = answer
    if is_country:
        nationality = None  # "born in Kenya" next to "Kenyan" would state the answer twice
    elif rng.random() < 0.85:
        nationality = _DEMONYMS[country]
    else:
        nationality = _DEMONYMS[rng.choice(list(_DEMONYMS))]
    byear = rng.randint(1780, 1995)
    dyear = None
    if byear < 1935 or (byear < 1965 and rng.random() < 0.4):
        dyear = min(byear + rng.randint(32, 95), 2019)
    return _Person(
        name=name,
        sur=sur,
        place=place,
        country=country,
        region=region,
        is_country=is_country,
        nationality=nationality,
        occupation=rng.choice(_OCCUPATIONS),
        byear=byear,
        bdate=_date(rng, byear),
        dyear=dyear,
        ddate=None if dyear is None else _date(rng, dyear),
    )


def _choice_except(rng: random.Random, options: Sequence[str], excluded: Sequence[str]) -> str:
    """A random element of options that is not in excluded."""
    while True:
        choice = rng.choice(options)
        if choice not in excluded:
            return choice


def _fields(
    rng: random.Random, p: _Person, cities: Sequence[str], activities: Sequence[str]
) -> dict[str, str]:
    """Fresh values for every template placeholder except {P} (new distractors each call)."""
    last = p.dyear if p.dyear is not None else 2020
    year = rng.randint(min(p.byear + 18, last - 1), last - 1)
    desc = p.occupation if p.nationality is None else f"{p.nationality} {p.occupation}"
    fields = {
        "full": p.name,
        "sur": p.sur,
        "be": "is" if p.dyear is None else "was",
        "occ": p.occupation,
        "occ2": _choice_except(rng, _OCCUPATIONS, (p.occupation,)),
        "a_occ": _article(p.occupation),
        "a_desc": _article(desc),
        "byear": str(p.byear),
        "bdate": p.bdate,
        "dyear": str(p.dyear),
        "ddate": str(p.ddate),
        "D": _choice_except(rng, cities, (p.place,)),
        "C": _choice_except(rng, _COUNTRIES, (p.country, p.place)),
        "year": str(year),
        "year2": str(min(year + rng.randint(2, 30), last)),
        "age": str(rng.randint(6, 30)),
        "n": str(rng.randint(2, 9)),
        "subject": rng.choice(_SUBJECTS),
        "award": rng.choice(_AWARDS),
        "kind": rng.choice(_KINDS),
        "title": rng.choice(_TITLES),
        "society": rng.choice(_SOCIETIES),
    }
    fields["activity"] = rng.choice(activities).format(**fields)
    return fields


def _fits(condition: str, p: _Person) -> bool:
    """Whether a template's life condition ("any", "dead", "alive") fits the person."""
    return condition == "any" or (condition == "dead") == (p.dyear is not None)


def _sentence(
    rng: random.Random, p: _Person, cities: Sequence[str], pool: Sequence, ts: _TemplateSet
) -> str:
    """One non-birth sentence drawn from pool, with fresh distractors."""
    template = rng.choice([t for t, cond in pool if _fits(cond, p)])
    return template.format(**_fields(rng, p, cities, ts.activities)) + " ."


def _birth_sentence(
    rng: random.Random, p: _Person, cities: Sequence[str], pool: Sequence, ts: _TemplateSet
) -> tuple[str, int]:
    """A sentence stating the birth place, and the place's offset within it."""
    template, _, regional = rng.choice([t for t in pool if _fits(t[1], p)])
    fields = _fields(rng, p, cities, ts.activities)
    place = p.place
    if regional and not p.is_country and rng.random() < 0.4:
        fields["P"] = f"{place}, {p.region or p.country}"
    elif p.is_country and p.place in _WITH_THE and "-born" not in template:
        fields["P"] = f"the {place}"
    else:
        fields["P"] = place
    prefix = template[: template.index("{P}")].format(**fields)
    offset = len(prefix) + fields["P"].index(place)
    return template.format(**fields) + " .", offset


def _biography(
    rng: random.Random,
    p: _Person,
    cities: Sequence[str],
    late: bool,
    ts: _TemplateSet,
    max_extras: int = 3,
) -> str:
    """The wiki line of a person in wording ts; sets p.offset. Late lines put the place past 112."""
    head = f"{p.name}. "
    for _ in range(100):
        if late:
            before = [_sentence(rng, p, cities, ts.intros, ts)]
            birth, offset = _birth_sentence(rng, p, cities, ts.any_birth, ts)
            while len(head) + len(" ".join(before)) + 1 + offset < VISIBLE_CHARS:
                extra = _sentence(rng, p, cities, ts.extras, ts)
                if extra not in before:
                    before.append(extra)
            sentences = [*before, birth]
        else:
            birth, offset = _birth_sentence(rng, p, cities, ts.early_birth + ts.any_birth, ts)
            if len(head) + offset + len(p.place) > VISIBLE_CHARS:
                continue
            sentences, before = [birth], []
        n_extras = (0, 1, 2, 3)[: max_extras + 1]
        for _ in range(rng.choices(n_extras, (0.4, 0.35, 0.18, 0.07)[: max_extras + 1])[0]):
            extra = _sentence(rng, p, cities, ts.extras, ts)
            if extra in sentences or len(head) + len(" ".join(sentences)) + len(extra) > 300:
                break
            sentences.append(extra)
        line = head + " ".join(sentences)
        start = len(head) + (len(" ".join(before)) + 1 if before else 0) + offset
        if line.count(p.place) == 1 and line[start : start + len(p.place)] == p.place:
            p.offset = start
            return line
    raise RuntimeError(f"could not write a biography for {p.name!r} with birth place {p.place!r}")


def _question(name: str) -> str:
    """The question about a person's birth place."""
    return f"Where was {name} born?"


def generate(
    out_dir: str | os.PathLike,
    *,
    n_people: int = 3000,
    n_train: int = 2000,
    n_dev: int = 500,
    n_unseen: int = 200,
    seed: int = 0,
    variants: int = 1,
    full_names: bool = False,
    templates: TemplateName = "default",
    late_share: float = LATE_SHARE,
    max_extras: int = 3,
    names: NameStyle = "pool",
) -> dict[str, Path]:
    """Write a synthetic biography corpus with birth-place questions; return the paths by role.

    Args:
        out_dir: directory to write into (created if missing); existing files are replaced.
        n_people: people with a biography line in wiki.txt.
        n_train: of those, people in birth_places_train.tsv (question, tab, answer).
        n_dev: of those, people in birth_dev.tsv; the remaining n_people - n_train - n_dev
            people go to birth_test_inputs.tsv (questions only). The splits are stratified
            by birth place, so each has about the same answer distribution.
        n_unseen: extra people who are not in wiki.txt, with answers, in birth_unseen.tsv.
        seed: the only source of randomness; the same seed gives byte-identical files.
        variants: biographies per person in wiki.txt. Extra ones (knowledge augmentation, Allen-Zhu &
            Li, "Physics of Language Models 3.1") state the same facts in other templates and orders
            and are appended, shuffled, after the first n_people lines; people.jsonl points at the first.
        full_names: name the person in full in every sentence, not by surname (the "fullname"
            augmentation of Allen-Zhu & Li: people who share a surname no longer share its facts).
        templates: the wording of the biographies: "default", or "alt", a separately written
            set of encyclopedic and obituary phrasings for testing whether a recipe tuned on the
            default corpus transfers. Both draw the same people and birth places for a seed.
        late_share: share of biographies that put the birth place past VISIBLE_CHARS, after
            other sentences (beyond the course's pretraining window).
        max_extras: at most this many other sentences (distractor places, placeless facts) follow
            the birth sentence (0-3; 0 to 3 of them with weights 0.4, 0.35, 0.18, 0.07, cut here).
        names: "pool", names from 83 first names x 82 surnames (about three people share each
            surname at 300 people), or "unique", a made-up surname for each person, as in the real
            wiki.txt, where 81 % of the train and dev people have a surname no one else has.

    Returns:
        Paths keyed by "wiki", "train", "dev", "test", "unseen" and "people" (people.jsonl:
        name, birth place, country, split, wiki line number and character offset of the
        birth place in that line, null for unseen people).
    """
    _check_count("n_people", n_people, 1)
    _check_count("n_train", n_train, 0)
    _check_count("n_dev", n_dev, 0)
    _check_count("n_unseen", n_unseen, 0)
    _check_count("variants", variants, 1)
    if max_extras not in (0, 1, 2, 3):
        raise ValueError(f"max_extras must be 0, 1, 2 or 3, got {max_extras!r}")
    if not 0.0 <= late_share <= 1.0:
        raise ValueError(f"late_share must be a share in [0, 1], got {late_share!r}")
    if templates not in _TEMPLATE_SETS:
        raise ValueError(f"templates must be one of {', '.join(_TEMPLATE_SETS)}, got {templates!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if n_train + n_dev > n_people:
        raise ValueError(
            f"n_train + n_dev must be <= n_people, got n_train={n_train}, n_dev={n_dev}, "
            f"n_people={n_people}"
        )
    if names not in ("pool", "unique"):
        raise ValueError(f"names must be 'pool' or 'unique', got {names!r}")
    capacity = len(_FIRST_NAMES) * len(_SURNAMES) // 2 if names == "pool" else 5_000
    if n_people + n_unseen > capacity:
        raise ValueError(
            f"n_people + n_unseen must be <= {capacity} (distinct names available), got "
            f"n_people={n_people}, n_unseen={n_unseen}"
        )

    ts = _TEMPLATE_SETS[templates]
    rng = random.Random(seed)
    places, weights = _place_table()
    cities = [city for city, _, _ in _CITIES]
    used: set[tuple[str, str]] = set()
    unique: list[str] | None = [] if names == "unique" else None
    # Answers by quota rather than independent draws, so that every split sees the intended
    # distribution (London ~5 %) and the majority baseline is the same on train and dev.
    place_ids = [i for i, count in enumerate(_quota(rng, weights, n_people)) for _ in range(count)]
    rng.shuffle(place_ids)
    people = [_draw_person(rng, *_draw_name(rng, used, unique), places[i]) for i in place_ids]
    if full_names:
        for p in people:
            p.sur = p.name  # every "{sur}" of the templates
    late = set(rng.sample(range(n_people), round(late_share * n_people)))
    lines = []
    for i, p in enumerate(people):
        lines.append(_biography(rng, p, cities, i in late, ts, max_extras))
        p.line = i

    # Augmented copies come from their own stream, so variants=1 leaves every file unchanged.
    variant_rng = random.Random(f"{seed}-variants")
    extra_lines = []
    for p in people:
        first_offset = p.offset
        for _ in range(variants - 1):
            extra_lines.append(
                _biography(
                    variant_rng, p, cities, variant_rng.random() < late_share, ts, max_extras
                )
            )
        p.offset = first_offset
    variant_rng.shuffle(extra_lines)
    lines += extra_lines

    # Every character of the questions must be in the vocabulary, which comes from wiki.txt.
    if not set(_question("")) <= set("".join(lines)):
        lines[0] += f' {people[0].sur} is best known for the study "Who Was Born Where?" .'
    wiki = "\n".join(lines) + "\n"
    wiki_chars = set(wiki)

    sizes = {"train": n_train, "dev": n_dev, "test": n_people - n_train - n_dev}
    for p, split in zip(people, _stratified_splits(rng, place_ids, sizes), strict=True):
        p.split = split
    order = list(range(n_people))  # the order of the question files
    rng.shuffle(order)

    # Unseen people: same answer distribution, restricted to answers that occur in wiki.txt.
    unseen_weights = [
        w if place in wiki else 0.0 for (place, *_), w in zip(places, weights, strict=True)
    ]
    unseen_ids = [i for i, c in enumerate(_quota(rng, unseen_weights, n_unseen)) for _ in range(c)]
    rng.shuffle(unseen_ids)
    unseen: list[_Person] = []
    for i in unseen_ids:
        name, sur = _draw_name(rng, used, unique)
        while name in wiki or not set(name) <= wiki_chars:
            name, sur = _draw_name(rng, used, unique)
        unseen.append(_draw_person(rng, name, sur, places[i]))
        unseen[-1].split = "unseen"

    def qa(split: str) -> str:
        return "".join(
            f"{_question(people[i].name)}\t{people[i].place}\n"
            for i in order
            if people[i].split == split
        )

    texts = {
        "wiki": wiki,
        "train": qa("train"),
        "dev": qa("dev"),
        "test": "".join(
            f"{_question(people[i].name)}\n" for i in order if people[i].split == "test"
        ),
        "unseen": "".join(f"{_question(p.name)}\t{p.place}\n" for p in unseen),
        "people": "".join(
            json.dumps(
                {
                    "name": p.name,
                    "birth_place": p.place,
                    "country": p.country,
                    "split": p.split,
                    "line": p.line,
                    "offset": p.offset,
                },
                ensure_ascii=True,
                separators=(",", ":"),
            )
            + "\n"
            for p in people + unseen
        ),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {role: out / FILES[role] for role in FILES}
    for role, text in texts.items():
        atomic_write_text(paths[role], text)
    return paths


def main(argv: Sequence[str] | None = None) -> dict[str, Path]:
    """Command line: write the synthetic corpus into --out_dir and log what was written."""
    parser = argparse.ArgumentParser(
        description="Write a deterministic synthetic birth-place corpus (wiki.txt + QA files).",
    )
    parser.add_argument("--out_dir", required=True, help="directory to write into")
    parser.add_argument("--n_people", type=int, default=3000, help="people in wiki.txt")
    parser.add_argument("--n_train", type=int, default=2000, help="train QA pairs")
    parser.add_argument("--n_dev", type=int, default=500, help="dev QA pairs")
    parser.add_argument("--n_unseen", type=int, default=200, help="QA pairs about unseen people")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--variants", type=int, default=1, help="biographies per person")
    parser.add_argument(
        "--full_names",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="name each person in full in every sentence (default: no)",
    )
    parser.add_argument(
        "--templates",
        choices=list(_TEMPLATE_SETS),
        default="default",
        help="wording of the biographies (default: default)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        paths = generate(
            args.out_dir,
            n_people=args.n_people,
            n_train=args.n_train,
            n_dev=args.n_dev,
            n_unseen=args.n_unseen,
            seed=args.seed,
            variants=args.variants,
            full_names=args.full_names,
            templates=args.templates,
        )
    except ValueError as err:
        parser.error(str(err))
    for path in paths.values():
        with open(path, encoding="utf-8") as f:
            n_lines = sum(1 for _ in f)
        logger.info("wrote %s (%d lines, %d bytes)", path, n_lines, path.stat().st_size)
    return paths


if __name__ == "__main__":
    main()
