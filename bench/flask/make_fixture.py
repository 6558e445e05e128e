"""Writes a Flask database for `larch import-flask` to import, with the tutorial app's own
models (app/models.py) and werkzeug's own password hashes (scrypt, werkzeug 3's default, and
pbkdf2, the default before it), including rows larch must refuse. Prints a JSON manifest
of every row and what larch should do with it (`expect`: "imported", "refused" or
"no-login"; `reason`: a phrase the refusal names), and the passwords, for the tests in
tests/api/import_flask.rs.

    python3 make_fixture.py --url sqlite:////tmp/flask.db
    python3 make_fixture.py --url postgresql+psycopg2://postgres@127.0.0.1/flask
    python3 make_fixture.py --url mysql+pymysql://root@127.0.0.1/flask --extra-posts 5000

The database is emptied first (drop_all, create_all). Some bad rows exist only on SQLite,
which does not enforce column lengths or foreign keys and stores a Numeric as a float: a
201-character title, a post whose user does not exist, a price of 19.999. PostgreSQL and
MariaDB refuse to store those, so a Flask app on them cannot have them either.
"""
import argparse
import json
import os
import sys
from datetime import datetime, timedelta
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sqlalchemy import text  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the database to write")
    parser.add_argument("--extra-posts", type=int, default=0,
                        help="this many more valid posts by user 1 (ids from 1001)")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.url
    from app import create_app, db
    from app.models import Post, Product, User

    app = create_app("production")
    base = datetime(2024, 1, 2, 3, 4, 5, 678901)
    at = lambda minutes: base + timedelta(minutes=minutes)  # noqa: E731

    with app.app_context():
        dialect = db.engine.dialect.name
        sqlite = dialect == "sqlite"
        db.drop_all()
        db.create_all()
        # A column larch has no field for: reported, not imported.
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE products ADD COLUMN category VARCHAR(40) DEFAULT 'misc'"))

        users = []

        def user(id, username, email, password, method=None, expect="imported", reason=None,
                 stored=None):
            hashed = stored if stored is not None else (
                generate_password_hash(password, method=method) if method
                else generate_password_hash(password))
            db.session.add(User(id=id, username=username, email=email, password=hashed,
                                created_at=at(id)))
            users.append({"id": id, "username": username, "email": email, "password": password,
                          "scheme": hashed.split("$")[0].split(":")[0] if "$" in hashed else "plain",
                          "expect": expect, "reason": reason})

        user(1, "alice", "alice@example.com", "alice-password-1")                    # scrypt
        user(2, "bob", "Bob@Example.COM", "bob-password-22", method="pbkdf2")        # pbkdf2:sha256:1000000
        user(3, "carol", "carol@bücher.example", "carol-pw-333")
        user(4, "Alice", "alice2@example.com", "alice2-password",
             expect="refused", reason='username "Alice" is taken by user #1')
        user(5, "dave", "ALICE@EXAMPLE.COM", "dave-password",
             expect="refused", reason='email "alice@example.com" is taken by user #1')
        user(6, "bad user", "bad@example.com", "bad-password",
             expect="refused", reason="username: may contain only")
        user(7, "erin", "not-an-email", "erin-password",
             expect="refused", reason="email: must be a valid email address")
        user(8, "frank", "frank@example.com", "hunter22", stored="hunter22",
             expect="no-login", reason="not a password hash larch can check")
        # werkzeug 2's default, and a password shorter than larch asks of new ones.
        user(9, "gus", "gus@example.com", "abc", method="pbkdf2:sha256:600000")
        user(500, "ivan", "ivan@example.com", "ivan-password-500")
        db.session.commit()

        posts = []

        def post(id, user_id, title, body="A body.", expect="imported", reason=None):
            db.session.add(Post(id=id, user_id=user_id, title=title, body=body,
                                created_at=at(100 + id)))
            posts.append({"id": id, "user_id": user_id, "title": title, "expect": expect,
                          "reason": reason})

        post(1, 1, "Hello world")
        post(2, 2, "Searchable Title")
        post(3, 500, "From the highest user")
        post(4, 4, "By a refused user", expect="refused",
             reason="its author, user #4, was not imported")
        post(5, 1, "   ", expect="refused", reason="title: ")
        post(6, 2, "Invisible body", body="\u200b", expect="refused", reason="body: ")
        post(7, 3, "Ünïcode ΟΔΟΣ")
        if sqlite:
            post(8, 1, "x" * 201, expect="refused", reason="title: must be at most 200")
            post(9, 999, "No such author", expect="refused", reason="there is no user #999")
        post(100, 9, "The highest post")
        db.session.commit()

        if args.extra_posts:
            db.session.add_all(Post(id=1000 + n, user_id=1, title=f"Extra post {n}",
                                    body="More.", created_at=at(1000 + n))
                               for n in range(1, args.extra_posts + 1))
            db.session.commit()

        products = []

        def product(id, name, price, sku=None, stock=0, expect="imported", reason=None):
            db.session.add(Product(id=id, name=name, description="", price=price, sku=sku,
                                   stock=stock, created_at=at(200 + id)))
            products.append({"id": id, "name": name, "price": str(price), "sku": sku,
                             "stock": stock, "expect": expect, "reason": reason})

        product(1, "Desk lamp", Decimal("19.99"), sku="LAMP-01", stock=12)
        product(2, "Chair", Decimal("45.00"))
        product(3, " ", Decimal("1.00"), expect="refused", reason="name: ")
        if sqlite:
            product(4, "Kettle", Decimal("19.999"), expect="refused", reason="price: ")
        db.session.commit()

        # Timestamps as the database kept them (MariaDB's DATETIME drops the microseconds).
        for table, rows in (("users", users), ("posts", posts), ("products", products)):
            stored = dict(db.session.execute(text(f"SELECT id, created_at FROM {table}")).all())
            for row in rows:
                value = stored[row["id"]]
                if isinstance(value, str):  # SQLite hands back its text
                    value = datetime.fromisoformat(value)
                row["created_at"] = value.isoformat(sep="T")

    json.dump({"dialect": dialect, "users": users, "posts": posts, "products": products,
               "extra_posts": args.extra_posts}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
