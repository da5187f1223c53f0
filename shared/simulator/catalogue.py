"""The product catalogue: categories, plausible names, prices, popularity and bundles.

Popularity is Zipf-like over a random ranking, so a few products dominate views as in
any real shop. Bundles are small groups of products from one category that customers
tend to buy together; they are the co-purchase signal a recommender should learn, and
`bundles` exposes them as ground truth for evaluating one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .config import ShopConfig
from .strings import prefixed_numbers


@dataclass(frozen=True)
class Category:
    """One department: how big, how pricey, and words to name its products with.

    Every category lists six materials and ten nouns, so names are drawn by index.
    """

    name: str
    slug: str
    weight: float
    median_price: float
    price_sigma: float
    materials: tuple[str, ...]
    nouns: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category("Kitchen", "kitchen", 0.15, 14.0, 0.6,
             ("Ceramic", "Enamel", "Bamboo", "Stainless Steel", "Cast Iron", "Glass"),
             ("Mug", "Teapot", "Mixing Bowl", "Colander", "Saucepan", "Chopping Board",
              "Cafetiere", "Utensil Set", "Storage Jar", "Baking Tray")),
    Category("Home Decor", "home-decor", 0.13, 22.0, 0.7,
             ("Linen", "Velvet", "Rattan", "Wooden", "Woven", "Marble"),
             ("Cushion", "Throw", "Vase", "Photo Frame", "Candle Holder", "Wall Clock",
              "Table Lamp", "Mirror", "Doorstop", "Basket")),
    Category("Garden", "garden", 0.10, 18.0, 0.8,
             ("Terracotta", "Galvanised", "Recycled", "Solar", "Willow", "Steel"),
             ("Plant Pot", "Watering Can", "Trowel", "Bird Feeder", "Hose Reel",
              "Lantern", "Planter", "Kneeler", "Pruning Shears", "Seed Tray")),
    Category("Toys", "toys", 0.10, 15.0, 0.6,
             ("Wooden", "Plush", "Magnetic", "Remote Control", "Soft", "Classic"),
             ("Puzzle", "Building Blocks", "Teddy Bear", "Train Set", "Kite", "Board Game",
              "Dolls House", "Racing Car", "Stacking Rings", "Marble Run")),
    Category("Stationery", "stationery", 0.09, 6.0, 0.5,
             ("Recycled", "Leather", "Kraft", "Pastel", "Dotted", "Classic"),
             ("Notebook", "Fountain Pen", "Pencil Case", "Desk Planner", "Sticky Notes",
              "Greeting Cards", "Washi Tape", "Sketchbook", "Ruler", "Gel Pens")),
    Category("Bath & Body", "bath-body", 0.09, 9.0, 0.45,
             ("Lavender", "Eucalyptus", "Citrus", "Rose", "Oat", "Sea Salt"),
             ("Soap Bar", "Bath Salts", "Hand Cream", "Body Lotion", "Bath Bomb",
              "Shower Gel", "Lip Balm", "Face Mask", "Sponge", "Candle")),
    Category("Pet Supplies", "pet", 0.08, 12.0, 0.6,
             ("Chew-Proof", "Reflective", "Orthopaedic", "Rope", "Fleece", "Waterproof"),
             ("Dog Lead", "Cat Toy", "Pet Bed", "Food Bowl", "Collar", "Scratching Post",
              "Treat Jar", "Grooming Brush", "Dog Coat", "Tennis Balls")),
    Category("Sports & Outdoors", "sports-outdoors", 0.09, 28.0, 0.8,
             ("Lightweight", "Insulated", "Foldable", "Waterproof", "Thermal", "Ripstop"),
             ("Water Bottle", "Yoga Mat", "Rucksack", "Camping Chair", "Head Torch",
              "Skipping Rope", "Picnic Blanket", "Resistance Bands", "Flask", "Tent Pegs")),
    Category("Electronics", "electronics", 0.09, 25.0, 0.9,
             ("Wireless", "Braided", "Portable", "Compact", "Smart", "Fast-Charge"),
             ("Charger", "USB-C Cable", "Power Bank", "Earbuds", "Speaker", "Phone Stand",
              "Desk Lamp", "Webcam", "Keyboard", "Mouse")),
    Category("Accessories", "accessories", 0.08, 20.0, 0.6,
             ("Wool", "Cotton", "Leather", "Knitted", "Canvas", "Silk"),
             ("Scarf", "Tote Bag", "Beanie", "Gloves", "Wallet", "Umbrella", "Sunglasses Case",
              "Belt", "Card Holder", "Socks")),
)

COLOURS: tuple[str, ...] = (
    "Blue", "Red", "Green", "Black", "White", "Grey", "Navy", "Sage", "Mustard", "Pink",
    "Cream", "Teal", "Charcoal", "Terracotta", "Lilac", "Natural",
)

QUERY_VARIANTS = 3
"""Each product can be searched for by noun, by colour and noun, or by material and noun."""


@dataclass(frozen=True)
class Catalogue:
    """Products as arrays for the simulator, plus the public Arrow tables.

    Products are ordered by category and, within a category, by bundle, so a category
    and a bundle are each a contiguous index range: sampling inside one is arithmetic.
    """

    table: pa.Table
    bundles: pa.Table
    ids: pa.Array
    category: np.ndarray
    price: np.ndarray
    category_cdf: np.ndarray
    """Per product: its category index plus the cumulative popularity within the category."""
    category_last: np.ndarray
    """Index of each category's last product (guards against float rounding at the edge)."""
    global_cdf: np.ndarray
    bundle_of: np.ndarray
    bundle_start: np.ndarray
    bundle_size: np.ndarray
    category_bundle_start: np.ndarray
    category_bundle_count: np.ndarray
    queries: pa.Array
    """QUERY_VARIANTS search phrases per product, product-major."""

    @property
    def size(self) -> int:
        return len(self.category)


def category_weights() -> np.ndarray:
    weights = np.array([c.weight for c in CATEGORIES])
    return weights / weights.sum()


def build_catalogue(config: ShopConfig, rng: np.random.Generator) -> Catalogue:
    """Draw the catalogue: every category gets at least three products, the rest by weight."""
    n = config.products
    n_cat = len(CATEGORIES)
    counts = 3 + rng.multinomial(n - 3 * n_cat, category_weights())
    category = np.repeat(np.arange(n_cat), counts)
    bundle_sizes = [_split_into_bundles(int(c), rng) for c in counts]
    bundle_size = np.concatenate(bundle_sizes)
    bundle_start = np.concatenate([[0], np.cumsum(bundle_size)[:-1]])
    bundle_of = np.repeat(np.arange(len(bundle_size)), bundle_size)
    category_bundle_count = np.array([len(s) for s in bundle_sizes])
    category_bundle_start = np.concatenate([[0], np.cumsum(category_bundle_count)[:-1]])

    rank = rng.permutation(n) + 1
    popularity = rank.astype(np.float64) ** -config.popularity_exponent
    popularity /= popularity.sum()
    within = np.zeros(n)
    for c in range(n_cat):
        members = category == c
        within[members] = np.cumsum(popularity[members]) / popularity[members].sum()
    category_cdf = category + within
    category_cdf[np.cumsum(counts) - 1] = np.arange(n_cat) + 1.0
    global_cdf = np.cumsum(popularity)
    global_cdf[-1] = 1.0

    price = _prices(category, rng)
    colour = rng.integers(0, len(COLOURS), n)
    material = rng.integers(0, len(CATEGORIES[0].materials), n)
    noun = rng.integers(0, len(CATEGORIES[0].nouns), n)
    colours = np.array(COLOURS, dtype=object)[colour]
    materials = np.array([c.materials for c in CATEGORIES], dtype=object)[category, material]
    nouns = np.array([c.nouns for c in CATEGORIES], dtype=object)[category, noun]
    names = colours + " " + materials + " " + nouns
    queries = np.stack([nouns, colours + " " + nouns, materials + " " + nouns], axis=1)

    # Ids are handed out in no category order, as in a catalogue that grew over years;
    # the public tables are listed by id.
    number = rng.permutation(n) + 1
    ids = prefixed_numbers("P", number, 5)
    by_id = pa.array(np.argsort(number))
    category_names = pa.array([c.name for c in CATEGORIES]).take(pa.array(category))
    table = pa.table(
        {
            "product_id": ids,
            "name": pa.array(names.tolist(), pa.string()),
            "category": category_names,
            "price": pa.array(price),
            "currency": pa.array([config.currency] * n, pa.string()),
        }
    ).take(by_id)
    bundles = pa.table(
        {
            "bundle_id": prefixed_numbers("B", bundle_of + 1, 4),
            "product_id": ids,
        }
    ).take(by_id)
    return Catalogue(
        table=table,
        bundles=bundles,
        ids=ids,
        category=category,
        price=price,
        category_cdf=category_cdf,
        category_last=np.cumsum(counts) - 1,
        global_cdf=global_cdf,
        bundle_of=bundle_of,
        bundle_start=bundle_start,
        bundle_size=bundle_size,
        category_bundle_start=category_bundle_start,
        category_bundle_count=category_bundle_count,
        queries=pc.utf8_lower(pa.array(queries.ravel().tolist(), pa.string())),
    )


def _split_into_bundles(count: int, rng: np.random.Generator) -> list[int]:
    """Sizes of 3-5 that add up to `count` (which is at least 3)."""
    sizes: list[int] = []
    remaining = count
    while remaining > 5:
        size = int(rng.integers(3, 6))
        if remaining - size < 3:
            size = remaining - 3
        sizes.append(size)
        remaining -= size
    sizes.append(remaining)
    return sizes


def _prices(category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-category lognormal prices with shop-like endings (.99, .49, .00)."""
    median = np.array([c.median_price for c in CATEGORIES])[category]
    sigma = np.array([c.price_sigma for c in CATEGORIES])[category]
    raw = rng.lognormal(np.log(median), sigma)
    ending = rng.choice(np.array([0.99, 0.49, 0.0]), size=len(raw), p=[0.6, 0.2, 0.2])
    price = np.floor(raw) + ending
    return np.round(np.where(price < 0.49, 0.99, price), 2)


def sample_in_category(cat: Catalogue, category: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Products drawn by popularity within the given categories (u uniform in [0, 1))."""
    found = np.searchsorted(cat.category_cdf, category + u, side="right")
    return np.minimum(found, cat.category_last[category])


def sample_global(cat: Catalogue, u: np.ndarray) -> np.ndarray:
    """Products drawn by popularity across the whole catalogue."""
    return np.searchsorted(cat.global_cdf, u, side="right")


def sample_in_bundle(cat: Catalogue, bundle: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Products drawn uniformly from the given bundles."""
    return cat.bundle_start[bundle] + (u * cat.bundle_size[bundle]).astype(np.int64)


def bundle_sibling(cat: Catalogue, product: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Another member of each product's bundle, uniformly (bundles have 3+ members)."""
    bundle = cat.bundle_of[product]
    size = cat.bundle_size[bundle]
    start = cat.bundle_start[bundle]
    step = 1 + (u * (size - 1)).astype(np.int64)
    return start + (product - start + step) % size
