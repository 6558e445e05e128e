"""Fills the Flask app's database with USERS users, POSTS posts and PRODUCTS products (env
vars, defaults 1000 / 100000 / 10000), as `larch seed` does for larch: bulk inserts
(executemany) in large transactions, one password hash shared by every seeded user,
timestamps spread over the past year in id order, post authors drawn at random.

    DATABASE_URL=sqlite:////tmp/x/flask.db USERS=1000 POSTS=100000 PRODUCTS=10000 \
        .venv/bin/python seed.py
"""
import os
import random
import time
from datetime import datetime, timedelta

from werkzeug.security import generate_password_hash

from app import create_app, db
from app.models import Post, Product, User

SEED_PASSWORD = "seed-password"
BATCH = 50_000
WORDS = ("rust async database index query latency cache tokio design api garden coffee "
         "travel music river mountain winter summer city book recipe bread cheese bicycle "
         "camera review guide notes ideas story").split()
ADJECTIVES = "Compact Deluxe Classic Wireless Oak Steel Mini Smart Vintage Eco".split()
NOUNS = ["desk lamp", "chair", "kettle", "backpack", "keyboard", "mug", "notebook",
         "speaker", "shelf", "clock"]


def sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def main():
    users = int(os.getenv("USERS", "1000"))
    posts = int(os.getenv("POSTS", "100000"))
    products = int(os.getenv("PRODUCTS", "10000"))
    rng = random.Random(0x1A7C4)
    tag = f"{random.getrandbits(16):04x}"
    start = datetime.utcnow() - timedelta(days=365)
    year = timedelta(days=365)

    def spread(n, total):
        return start + year * (n / max(total, 1))

    started = time.monotonic()
    app = create_app(os.getenv("FLASK_CONFIG", "production"))
    with app.app_context():
        db.create_all()
        password = generate_password_hash(SEED_PASSWORD)  # hashed once, shared
        with db.engine.begin() as conn:
            conn.execute(User.__table__.insert(), [
                {"username": f"s{tag}_{n}", "email": f"s{tag}_{n}@seed.example",
                 "password": password, "created_at": spread(n, users)}
                for n in range(users)])
        author_ids = [row[0] for row in db.session.execute(db.select(User.id))]
        if posts and not author_ids:
            raise SystemExit("posts need authors: seed some users too (USERS)")
        for chunk in range(0, posts, BATCH):
            rows = []
            for n in range(chunk, min(chunk + BATCH, posts)):
                rows.append({"title": f"{sentence(rng, 4)} #{n}",
                             "body": sentence(rng, rng.randrange(15, 40)) + ".",
                             "user_id": rng.choice(author_ids),
                             "created_at": spread(n, posts)})
            with db.engine.begin() as conn:
                conn.execute(Post.__table__.insert(), rows)
        for chunk in range(0, products, BATCH):
            rows = []
            for n in range(chunk, min(chunk + BATCH, products)):
                rows.append({"name": f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {n}",
                             "description": sentence(rng, rng.randrange(5, 20)) + ".",
                             "price": f"{rng.randrange(100, 100000) / 100:.2f}",
                             "sku": f"S{tag}-{n}",
                             "stock": rng.randrange(0, 500),
                             "created_at": spread(n, products)})
            with db.engine.begin() as conn:
                conn.execute(Product.__table__.insert(), rows)
    print(f"seeded {users} users, {posts} posts, {products} products "
          f"in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
