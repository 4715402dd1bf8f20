"""NCIC vehicle codes in words: make (VMA), color (VCO) and style (VST).

A hot-list entry describes the vehicle in NCIC codes (``TOYT``, ``BLK``, ``4D``); the person
verifying an alert compares that description with the vehicle on the image (P7), and a dispatcher
reading "TOYT BLK 4D" under pressure misreads codes. The common codes are said in words, with the
code kept beside them; a code not in these tables is shown exactly as sent, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["COLORS", "MAKES", "STYLES", "decode", "describe"]

#: NCIC vehicle make codes (VMA) of the makes most often on the road.
MAKES: Mapping[str, str] = {
    "ACUR": "Acura",
    "ALFA": "Alfa Romeo",
    "AMGN": "AM General",
    "ASTO": "Aston Martin",
    "AUDI": "Audi",
    "BENT": "Bentley",
    "BMW": "BMW",
    "BUIC": "Buick",
    "CADI": "Cadillac",
    "CHEV": "Chevrolet",
    "CHRY": "Chrysler",
    "DAEW": "Daewoo",
    "DODG": "Dodge",
    "DUCA": "Ducati",
    "FERR": "Ferrari",
    "FIAT": "Fiat",
    "FORD": "Ford",
    "FRHT": "Freightliner",
    "GEO": "Geo",
    "GMC": "GMC",
    "HD": "Harley-Davidson",
    "HINO": "Hino",
    "HOND": "Honda",
    "HUMM": "Hummer",
    "HYUN": "Hyundai",
    "INFI": "Infiniti",
    "INTL": "International",
    "ISU": "Isuzu",
    "JAGU": "Jaguar",
    "JEEP": "Jeep",
    "KAWK": "Kawasaki",
    "KENW": "Kenworth",
    "KIA": "Kia",
    "KTM": "KTM",
    "LAMO": "Lamborghini",
    "LNDR": "Land Rover",
    "LEXS": "Lexus",
    "LINC": "Lincoln",
    "LOTU": "Lotus",
    "MACK": "Mack",
    "MASE": "Maserati",
    "MAZD": "Mazda",
    "MERC": "Mercury",
    "MERZ": "Mercedes-Benz",
    "MINI": "Mini",
    "MITS": "Mitsubishi",
    "NISS": "Nissan",
    "OLDS": "Oldsmobile",
    "PLYM": "Plymouth",
    "PONT": "Pontiac",
    "PORS": "Porsche",
    "PTRB": "Peterbilt",
    "RAM": "Ram",
    "ROL": "Rolls-Royce",
    "SAAB": "Saab",
    "SCIO": "Scion",
    "SMRT": "smart",
    "STRN": "Saturn",
    "SUBA": "Subaru",
    "SUZI": "Suzuki",
    "TESL": "Tesla",
    "TOYT": "Toyota",
    "TRIU": "Triumph",
    "VOLK": "Volkswagen",
    "VOLV": "Volvo",
    "WINN": "Winnebago",
    "YAMA": "Yamaha",
}

#: NCIC vehicle color codes (VCO); a two-tone vehicle is sent as two codes, e.g. ``BLK/WHI``.
COLORS: Mapping[str, str] = {
    "AME": "amethyst",
    "BGE": "beige",
    "BLK": "black",
    "BLU": "blue",
    "BRO": "brown",
    "BRZ": "bronze",
    "CAM": "camouflage",
    "COM": "chrome",
    "CPR": "copper",
    "CRM": "cream",
    "DBL": "dark blue",
    "DGR": "dark green",
    "GLD": "gold",
    "GRN": "green",
    "GRY": "gray",
    "LAV": "lavender",
    "LBL": "light blue",
    "LGR": "light green",
    "MAR": "maroon",
    "MUL": "multicolored",
    "MVE": "mauve",
    "ONG": "orange",
    "PLE": "purple",
    "PNK": "pink",
    "RED": "red",
    "SIL": "silver",
    "TAN": "tan",
    "TEA": "teal",
    "TPE": "taupe",
    "TRQ": "turquoise",
    "WHI": "white",
    "YEL": "yellow",
}

#: NCIC vehicle style codes (VST) of the common body styles.
STYLES: Mapping[str, str] = {
    "2D": "2-door sedan",
    "3D": "3-door hatchback",
    "4D": "4-door sedan",
    "2T": "2-door hardtop",
    "4T": "4-door hardtop",
    "BU": "bus",
    "CP": "coupe",
    "CV": "convertible",
    "FB": "flatbed truck",
    "HB": "hatchback",
    "LL": "carryall (SUV)",
    "LM": "limousine",
    "MC": "motorcycle",
    "MH": "motor home",
    "MP": "moped",
    "PK": "pickup",
    "SW": "station wagon",
    "TK": "truck",
    "TR": "truck tractor",
    "TT": "travel trailer",
    "UT": "utility (SUV)",
    "VN": "van",
}

_TABLES: Mapping[str, Mapping[str, str]] = {"make": MAKES, "color": COLORS, "style": STYLES}
#: The order a description is said in, as a dispatcher would: "2015 black Ford F15 pickup".
_ORDER = ("year", "color", "make", "model", "style", "plate_type", "plate_year", "vin")


def decode(field: str, code: str) -> str:
    """One code in words, the code kept beside it ("Toyota (TOYT)"); a code not in the tables,
    or a field without one (year, model, VIN), is returned exactly as sent."""
    table = _TABLES.get(field)
    raw = code.strip()
    if table is None or not raw:
        return raw
    parts = raw.upper().split("/") if field == "color" else [raw.upper()]
    words = [table.get(part) for part in parts]
    if not all(words):
        return raw
    return f"{'/'.join(w for w in words if w)} ({raw})"


def describe(vehicle: Mapping[str, str]) -> list[dict[str, str]]:
    """The entry's vehicle description field by field, decoded (``code`` as sent, ``text`` in
    words), in the order a dispatcher says it; fields this module does not know come last."""
    fields = sorted(vehicle, key=lambda f: (_ORDER.index(f) if f in _ORDER else len(_ORDER), f))
    return [
        {"field": f, "code": vehicle[f], "text": decode(f, vehicle[f])} for f in fields if vehicle[f].strip()
    ]
