"""Fixed vocabularies of the sample shop: countries, cities, names, phone
formats, email domains, catalog words, pages and event names.

Everything here is static data; the generator indexes into it with numpy.
"""

from __future__ import annotations

import unicodedata

# -- geography ------------------------------------------------------------------

COUNTRIES = ("DE", "AT", "NL", "FR", "GB", "US")
COUNTRY_WEIGHTS = (0.42, 0.09, 0.11, 0.15, 0.11, 0.12)

# (country, city, IANA time zone, weight within the country)
CITIES = (
    ("DE", "Berlin", "Europe/Berlin", 0.24),
    ("DE", "Hamburg", "Europe/Berlin", 0.15),
    ("DE", "München", "Europe/Berlin", 0.15),
    ("DE", "Köln", "Europe/Berlin", 0.12),
    ("DE", "Frankfurt am Main", "Europe/Berlin", 0.10),
    ("DE", "Stuttgart", "Europe/Berlin", 0.09),
    ("DE", "Leipzig", "Europe/Berlin", 0.08),
    ("DE", "Düsseldorf", "Europe/Berlin", 0.07),
    ("AT", "Wien", "Europe/Vienna", 0.45),
    ("AT", "Graz", "Europe/Vienna", 0.18),
    ("AT", "Linz", "Europe/Vienna", 0.14),
    ("AT", "Salzburg", "Europe/Vienna", 0.13),
    ("AT", "Innsbruck", "Europe/Vienna", 0.10),
    ("NL", "Amsterdam", "Europe/Amsterdam", 0.35),
    ("NL", "Rotterdam", "Europe/Amsterdam", 0.22),
    ("NL", "Den Haag", "Europe/Amsterdam", 0.18),
    ("NL", "Utrecht", "Europe/Amsterdam", 0.15),
    ("NL", "Eindhoven", "Europe/Amsterdam", 0.10),
    ("FR", "Paris", "Europe/Paris", 0.38),
    ("FR", "Lyon", "Europe/Paris", 0.16),
    ("FR", "Marseille", "Europe/Paris", 0.14),
    ("FR", "Toulouse", "Europe/Paris", 0.12),
    ("FR", "Lille", "Europe/Paris", 0.10),
    ("FR", "Bordeaux", "Europe/Paris", 0.10),
    ("GB", "London", "Europe/London", 0.45),
    ("GB", "Manchester", "Europe/London", 0.17),
    ("GB", "Birmingham", "Europe/London", 0.15),
    ("GB", "Edinburgh", "Europe/London", 0.12),
    ("GB", "Bristol", "Europe/London", 0.11),
    ("US", "New York", "America/New_York", 0.28),
    ("US", "Boston", "America/New_York", 0.10),
    ("US", "Chicago", "America/Chicago", 0.17),
    ("US", "Austin", "America/Chicago", 0.10),
    ("US", "Denver", "America/Denver", 0.09),
    ("US", "Los Angeles", "America/Los_Angeles", 0.16),
    ("US", "Seattle", "America/Los_Angeles", 0.10),
)
TIME_ZONES = tuple(sorted({c[2] for c in CITIES}))

# (store_id, city)
STORES = (
    ("S01", "Berlin"),
    ("S02", "Hamburg"),
    ("S03", "München"),
    ("S04", "Köln"),
    ("S05", "Frankfurt am Main"),
    ("S06", "Wien"),
    ("S07", "Salzburg"),
    ("S08", "Amsterdam"),
    ("S09", "Rotterdam"),
    ("S10", "Paris"),
    ("S11", "Lyon"),
    ("S12", "London"),
)
TERMINALS_PER_STORE = 2

# -- names ----------------------------------------------------------------------

FIRST_NAMES = {
    "DE": ("Anna", "Lena", "Marie", "Sophie", "Julia", "Laura", "Katharina", "Sarah", "Lisa", "Hannah",
           "Jürgen", "Lukas", "Maximilian", "Jonas", "Felix", "Leon", "Paul", "Tobias", "Stefan", "Michael",
           "Thomas", "Andreas", "Sabine", "Claudia", "Björn", "Jörg", "Uwe", "Petra", "Nina", "Moritz"),
    "AT": ("Anna", "Magdalena", "Theresa", "Johanna", "Valentina", "Elisabeth", "Lukas", "Florian", "David",
           "Matthias", "Sebastian", "Georg", "Alexander", "Bernhard", "Katrin", "Sandra", "Christoph", "Ines"),
    "NL": ("Emma", "Sanne", "Lotte", "Fleur", "Anouk", "Sophie", "Daan", "Bram", "Sem", "Lars", "Thijs",
           "Joost", "Ruben", "Pieter", "Maartje", "Femke", "Jeroen", "Willem"),
    "FR": ("Camille", "Léa", "Manon", "Chloé", "Inès", "Sarah", "Élodie", "Lucas", "Hugo", "Louis", "Théo",
           "Nicolas", "Julien", "Antoine", "Mathieu", "Céline", "Aurélie", "François", "Gaëlle", "Rémi"),
    "GB": ("Olivia", "Amelia", "Isla", "Emily", "Charlotte", "Sophie", "Oliver", "Harry", "George", "Jack",
           "James", "William", "Thomas", "Hannah", "Rebecca", "Daniel", "Matthew", "Chloe"),
    "US": ("Emma", "Olivia", "Ava", "Madison", "Abigail", "Emily", "Ashley", "Liam", "Noah", "Ethan",
           "Mason", "Logan", "Jacob", "Tyler", "Brandon", "Megan", "Kayla", "Austin", "Hunter", "Taylor"),
}

LAST_NAMES = {
    "DE": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
           "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
           "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Weiß", "Jäger"),
    "AT": ("Gruber", "Huber", "Bauer", "Wagner", "Müller", "Pichler", "Steiner", "Moser", "Mayer",
           "Hofer", "Leitner", "Berger", "Fuchs", "Eder", "Fischer", "Schmid", "Winkler", "Weber"),
    "NL": ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser",
           "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks"),
    "FR": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
           "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "García", "Fournier", "Girard", "Bonnet"),
    "GB": ("Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
           "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Hughes", "Edwards"),
    "US": ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Garcia", "Rodriguez",
           "Wilson", "Martinez", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee"),
}


def ascii_slug(name: str) -> str:
    """Lower-case ASCII form of a name for email local parts ("Müller" -> "mueller")."""
    s = name.lower()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        s = s.replace(a, b)
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in s if ch.isalnum())


# -- email ----------------------------------------------------------------------

EMAIL_DOMAINS = {
    "DE": (("gmx.de", 0.25), ("web.de", 0.25), ("t-online.de", 0.15), ("gmail.com", 0.25), ("outlook.de", 0.10)),
    "AT": (("gmx.at", 0.3), ("aon.at", 0.2), ("gmail.com", 0.35), ("chello.at", 0.15)),
    "NL": (("ziggo.nl", 0.25), ("kpnmail.nl", 0.2), ("gmail.com", 0.4), ("hotmail.nl", 0.15)),
    "FR": (("orange.fr", 0.25), ("free.fr", 0.2), ("gmail.com", 0.35), ("laposte.net", 0.2)),
    "GB": (("gmail.com", 0.4), ("outlook.com", 0.2), ("btinternet.com", 0.2), ("yahoo.co.uk", 0.2)),
    "US": (("gmail.com", 0.5), ("yahoo.com", 0.2), ("outlook.com", 0.15), ("icloud.com", 0.15)),
}
COMPANY_DOMAINS = (
    "acme-gmbh.de", "nordlicht-consulting.de", "alpenbau.at", "vanderveen-bv.nl", "atelier-lumiere.fr",
    "brightside-ltd.co.uk", "redwood-labs.com", "kaffeehaus-partner.de", "officeplus.eu", "greenfield-inc.com",
)
# domain typos seen on checkout forms
DOMAIN_TYPOS = {
    "gmail.com": ("gmial.com", "gmail.con", "gmai.com", "gmal.com"),
    "gmx.de": ("gmx.d", "gxm.de"),
    "web.de": ("wbe.de", "web.dee"),
    "t-online.de": ("t-onlne.de", "tonline.de"),
    "outlook.com": ("outlok.com", "outlook.co"),
    "yahoo.com": ("yaho.com", "yahoo.cm"),
    "orange.fr": ("orage.fr",),
    "hotmail.nl": ("hotmial.nl",),
}

# -- phones ---------------------------------------------------------------------

# national significant number: (mobile prefixes, digits after the prefix)
PHONE_PLAN = {
    "DE": (("151", "152", "157", "160", "162", "170", "171", "172", "173", "174", "175", "176", "177", "178", "179"), 7),
    "AT": (("650", "660", "664", "676", "680", "681", "688", "699"), 7),
    "NL": (("6",), 8),
    "FR": (("6", "7"), 8),
    "GB": (("7700", "7711", "7723", "7745", "7801", "7911", "7956", "7400"), 6),
    "US": (("212", "312", "415", "617", "206", "303", "512", "213", "646", "773"), 7),
}
# templates: N = next digit of the national significant number, everything else literal;
# (template, weight). "(0)NNN-..." without a country code is a common but ambiguous way of typing.
PHONE_FORMATS = {
    "DE": (("+49 NNN NNNNNNN", 0.25), ("0NNN/NNNNNNN", 0.15), ("(0)NNN-NNN NN NN", 0.05), ("0049 NNN NNNNNNN", 0.08),
           ("+49NNNNNNNNNN", 0.12), ("0NNN NNNNNNN", 0.18), ("+49 (0)NNN NNNNNNN", 0.07), ("0NNN-NNNNNNN", 0.10)),
    "AT": (("+43 NNN NNNNNNN", 0.3), ("0NNN/NNNNNNN", 0.2), ("0043 NNN NNNNNNN", 0.1), ("0NNN NNN NNNN", 0.25),
           ("+43NNNNNNNNNN", 0.15)),
    "NL": (("+31 N NNNNNNNN", 0.3), ("0N-NNNNNNNN", 0.25), ("0031 N NNNN NNNN", 0.1), ("0NNNNNNNNN", 0.25),
           ("+31 (0)N NNNNNNNN", 0.1)),
    "FR": (("+33 N NN NN NN NN", 0.3), ("0N NN NN NN NN", 0.3), ("0N.NN.NN.NN.NN", 0.15), ("0033 N NN NN NN NN", 0.1),
           ("+33NNNNNNNNN", 0.15)),
    "GB": (("+44 NNNN NNNNNN", 0.3), ("0NNNN NNNNNN", 0.3), ("0NNNN-NNN-NNN", 0.15), ("+44 (0)NNNN NNNNNN", 0.15),
           ("0044 NNNN NNNNNN", 0.1)),
    "US": (("(NNN) NNN-NNNN", 0.3), ("NNN-NNN-NNNN", 0.25), ("+1 NNN NNN NNNN", 0.15), ("NNN.NNN.NNNN", 0.1),
           ("1-NNN-NNN-NNNN", 0.1), ("+1 (NNN) NNN-NNNN", 0.1)),
}
CALLING_CODES = {"DE": "49", "AT": "43", "NL": "31", "FR": "33", "GB": "44", "US": "1"}

# -- catalog --------------------------------------------------------------------

CATEGORIES = ("coffee", "pet_food", "cosmetics", "apparel", "electronics", "home", "outdoor", "books")
CATEGORY_WEIGHTS = (0.14, 0.10, 0.13, 0.18, 0.12, 0.13, 0.10, 0.10)
SKU_PREFIX = ("COF", "PET", "COS", "APP", "ELE", "HOM", "OUT", "BOO")
# (min price, max price) in EUR, typical unit cost share of the price, share of consumables,
# replenishment days (min, max) for consumables
CATEGORY_ECONOMICS = {
    "coffee": ((6.0, 38.0), 0.45, 0.92, (14, 42)),
    "pet_food": ((8.0, 65.0), 0.55, 0.95, (21, 45)),
    "cosmetics": ((5.0, 85.0), 0.35, 0.70, (30, 90)),
    "apparel": ((15.0, 160.0), 0.40, 0.0, None),
    "electronics": ((20.0, 900.0), 0.78, 0.0, None),
    "home": ((9.0, 300.0), 0.50, 0.15, (60, 120)),
    "outdoor": ((15.0, 420.0), 0.55, 0.0, None),
    "books": ((8.0, 45.0), 0.65, 0.0, None),
}
BRANDS = {
    "coffee": ("Bergfeld Rösterei", "Café Lumière", "Kaffa Collective", "Nordkap Coffee", "Tostado"),
    "pet_food": ("Pfotenglück", "Happy Tail", "WildPaw", "Katzenliebe", "Canis Natura"),
    "cosmetics": ("Aurelia", "Pure Botanic", "Skinwise", "Maison Rosé", "Hautnah"),
    "apparel": ("Nordweave", "Urban Fjord", "Linea", "Woolhaus", "Atelier 9"),
    "electronics": ("Voltra", "Soundbay", "Pixelon", "Nexa", "Audiomax"),
    "home": ("Casa Verde", "Hygge Living", "Steinkrug", "Lumo", "Kochwerk"),
    "outdoor": ("Gipfelstürmer", "Trailborn", "Alpenglow", "Wildmark", "Fjellgear"),
    "books": ("Kairos Verlag", "Blue Owl Press", "Edition Nord", "Paperlane", "Leseratte"),
}
PRODUCT_NOUNS = {
    "coffee": ("Espresso Beans", "Filter Coffee", "Decaf Blend", "Single Origin Ethiopia", "Crema Roast",
               "Cold Brew Blend", "Coffee Capsules", "Colombia Supremo"),
    "pet_food": ("Dry Cat Food", "Wet Dog Food", "Puppy Kibble", "Senior Cat Menu", "Grain-Free Dog Food",
                 "Cat Treats", "Dental Sticks", "Salmon Dinner"),
    "cosmetics": ("Face Cream", "Night Serum", "Shampoo", "Conditioner", "Body Lotion", "Lip Balm",
                  "Sunscreen SPF 50", "Eye Cream"),
    "apparel": ("Merino Sweater", "Rain Jacket", "Chino Trousers", "Linen Shirt", "Wool Socks", "Hoodie",
                "Denim Jacket", "Polo Shirt"),
    "electronics": ("Wireless Headphones", "Bluetooth Speaker", "Smartwatch", "E-Reader", "Power Bank",
                    "USB-C Charger", "Action Camera", "Noise-Cancelling Earbuds"),
    "home": ("Cast Iron Pan", "Linen Bedding", "Scented Candle", "Chef's Knife", "Table Lamp", "Coffee Grinder",
             "Dish Soap Refill", "Bath Towel Set"),
    "outdoor": ("Hiking Boots", "Trekking Poles", "Sleeping Bag", "Daypack 25L", "Camping Stove", "Tent 2P",
                "Headlamp", "Softshell Jacket"),
    "books": ("Cookbook", "Travel Guide", "Crime Novel", "Children's Picture Book", "Garden Handbook",
              "Biography", "Science Fiction Novel", "Coffee Atlas"),
}
PRODUCT_VARIANTS = ("", "Classic", "Pro", "Organic", "Premium", "Lite", "Deluxe", "Essential")
SEARCH_TERMS = {
    "coffee": ("espresso", "decaf", "coffee beans", "kaffee", "capsules"),
    "pet_food": ("cat food", "katzenfutter", "dog food", "treats", "grain free"),
    "cosmetics": ("face cream", "serum", "shampoo", "spf", "lip balm"),
    "apparel": ("jacket", "merino", "hoodie", "socks", "sale shirts"),
    "electronics": ("headphones", "speaker", "charger", "smartwatch", "kopfhörer"),
    "home": ("pan", "candle", "bedding", "knife", "lamp"),
    "outdoor": ("hiking boots", "tent", "sleeping bag", "backpack", "headlamp"),
    "books": ("cookbook", "krimi", "travel guide", "kids book", "novel"),
}

# -- events ---------------------------------------------------------------------

EVENT_NAMES = (
    "page_view", "product_view", "add_to_cart", "remove_from_cart", "checkout_started", "order_completed",
    "search", "wishlist_add", "login", "identify", "signup", "app_install", "return_policy_view",
)
# what old clients send instead (all are spellings the staging event_name_map knows)
LEGACY_EVENT_NAMES = {
    "page_view": "Page Viewed",
    "product_view": "Product Viewed",
    "add_to_cart": "addToCart",
    "remove_from_cart": "Product Removed",
    "checkout_started": "Checkout Started",
    "order_completed": "Order Completed",
    "search": "Products Searched",
    "wishlist_add": "Product Added to Wishlist",
    "login": "Signed In",
    "identify": "Identified",
    "signup": "Signed Up",
    "app_install": "Application Installed",
    "return_policy_view": "Return Policy Viewed",
}
# names no client should send: test tools, debug builds, experiments nobody registered
UNKNOWN_EVENT_NAMES = ("test_event_xyz", "debug_ping", "experiment_exposure", "scroll_depth_75", "TEST EVENT")
# client timestamps that do not parse as ISO 8601 (or name days that do not exist)
MALFORMED_TIMESTAMPS = (
    "not-a-timestamp", "1714567890123", "31/12/2024 10:00", "2024-13-01T10:00:00Z", "2024-02-30T08:15:00Z",
    "NaN", "{{event.timestamp}}", "Mon May 06 2024 14:03:11 GMT+0200", "2024-05-06T25:61:00Z",
)

WEB_PAGES = ("/", "/sale", "/new", "/account", "/help/shipping", "/stores", "/blog/brewing-guide", "/gift-cards")
APP_SCREENS = ("app://home", "app://sale", "app://new", "app://account", "app://stores", "app://inbox")
SHOP_URL = "https://shop.kairos.example"
