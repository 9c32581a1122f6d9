"""Word lists for seeded Estonian and Latvian data (names, places, articles, accounts)."""

from __future__ import annotations

from typing import NamedTuple


class Locale(NamedTuple):
    stems: tuple[str, ...]
    trades: tuple[str, ...]
    forms: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    streets: tuple[str, ...]
    cities: tuple[tuple[str, str, str], ...]  # city, county, postcode prefix
    domain: str
    phone: str
    regno_prefix: str
    vat_prefix: str
    objects: tuple[str, ...]
    salesmen: tuple[str, ...]
    vat_rates: dict[str, str]  # Directo VAT code → rate in percent
    standard_vat: str
    articles: tuple[tuple[str, str, str, str], ...]  # code, name, unit, price
    payterms: tuple[str, ...]


EE = Locale(
    stems=("Päikese", "Metsa", "Järve", "Õnne", "Kuuse", "Sõbra", "Mäe", "Tähe", "Lõuna", "Põhja",
           "Šokolaadi", "Žürii", "Küla", "Ääre", "Öökulli", "Rannu", "Vahtra", "Ülejõe"),
    trades=("Ehitus", "Konsult", "Kaubandus", "Transport", "Arendus", "Puit", "Teenused",
            "Disain", "IT", "Agro", "Kinnisvara", "Toit"),
    forms=("OÜ", "OÜ", "OÜ", "AS", "MTÜ", "FIE"),
    first_names=("Mari", "Jüri", "Tõnu", "Mälle", "Ülle", "Aivar", "Kätlin", "Sten", "Õie",
                 "Märt", "Liis", "Priit"),
    last_names=("Tamm", "Saar", "Sepp", "Mägi", "Kask", "Kütt", "Pärn", "Rätsep", "Õunapuu",
                "Lõhmus", "Šmidt", "Žukov", "Kõiv", "Jõgi"),
    streets=("Pärnu mnt", "Tartu mnt", "Narva mnt", "Jõe", "Lõõtsa", "Mäealuse", "Sõpruse pst",
             "Tähe", "Võidu", "Küütri"),
    cities=(("Tallinn", "Harjumaa", "10"), ("Tartu", "Tartumaa", "50"), ("Pärnu", "Pärnumaa", "80"),
            ("Võru", "Võrumaa", "65"), ("Jõhvi", "Ida-Virumaa", "41")),
    domain="ee", phone="+372 5", regno_prefix="1", vat_prefix="EE10",
    objects=("TLN", "TRT", "PRN"),
    salesmen=("MARI", "JYRI", "TONU", "KATRIN"),
    vat_rates={"24": "24", "22": "22", "9": "9", "0": "0", "KMV": "0"},
    standard_vat="24",
    articles=(("RAAMAT", "Raamatupidamisteenus", "kuu", "180.00"),
              ("PALK", "Palgaarvestus", "tk", "12.50"),
              ("KONS", "Konsultatsioon", "h", "60.00"),
              ("AASTA", "Majandusaasta aruanne", "tk", "350.00"),
              ("KMD", "Käibedeklaratsioon", "tk", "40.00"),
              ("SOIT", "Sõidukulud", "km", "0.50"),
              ("OIGUS", "Õigusabi", "h", "95.00"),
              ("SKANN", "Dokumentide skaneerimine", "lk", "0.20"),
              ("TSD", "TSD deklaratsioon", "tk", "35.00"),
              ("ARVE", "Müügiarvete koostamine", "tk", "2.00")),
    payterms=("7", "14", "14", "21", "30"),
)  # fmt: skip

LV = Locale(
    stems=("Saules", "Meža", "Ezera", "Dzintara", "Ābeles", "Rīgas", "Liepājas", "Kūrmājas",
           "Ēnas", "Ķiršu", "Ļaudis", "Ņiprie", "Šķūņa", "Žagatas", "Mēness"),
    trades=("Būve", "Tirdzniecība", "Transports", "Konsultācijas", "Serviss", "Koks", "Dizains",
            "IT", "Agro"),
    forms=("SIA", "SIA", "SIA", "AS", "IK", "biedrība"),
    first_names=("Jānis", "Anna", "Pēteris", "Līga", "Kārlis", "Ilze", "Māris", "Zane", "Ēriks",
                 "Ieva"),
    last_names=("Bērziņš", "Kalniņš", "Ozoliņš", "Liepiņa", "Krūmiņš", "Zariņa", "Ķēniņš",
                "Šteins", "Žubure", "Vītola"),
    streets=("Brīvības iela", "Krišjāņa Valdemāra iela", "Elizabetes iela", "Dzirnavu iela",
             "Tērbatas iela", "Ģertrūdes iela"),
    cities=(("Rīga", "Rīga", "LV-10"), ("Jūrmala", "Jūrmala", "LV-20"),
            ("Liepāja", "Liepāja", "LV-34"), ("Daugavpils", "Daugavpils", "LV-54"),
            ("Cēsis", "Cēsu novads", "LV-41")),
    domain="lv", phone="+371 2", regno_prefix="4000", vat_prefix="LV4000",
    objects=("RIX", "LPX", "DGP"),
    salesmen=("JANIS", "ILZE", "PETERIS"),
    vat_rates={"21": "21", "12": "12", "5": "5", "0": "0"},
    standard_vat="21",
    articles=(("GRAM", "Grāmatvedības pakalpojumi", "mēn", "200.00"),
              ("ALGA", "Algu aprēķins", "gab", "15.00"),
              ("KONS", "Konsultācija", "st", "55.00"),
              ("GADA", "Gada pārskats", "gab", "400.00"),
              ("PVN", "PVN deklarācija", "gab", "45.00"),
              ("CELS", "Ceļa izdevumi", "km", "0.45"),
              ("JUR", "Juridiskā palīdzība", "st", "90.00"),
              ("SKEN", "Dokumentu skenēšana", "lp", "0.25")),
    payterms=("10", "14", "15", "30"),
)  # fmt: skip

LOCALES = {"EE": EE, "LV": LV}

ASCII = str.maketrans(
    "õäöüšžāēīūčģķļņŗÕÄÖÜŠŽĀĒĪŪČĢĶĻŅ ",
    "oaouszaeiucgklnrOAOUSZAEIUCGKLN-",
)
