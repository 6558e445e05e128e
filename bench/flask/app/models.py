from datetime import datetime
from app import db


class User(db.Model):
    __tablename__ = "users"

    id         = db.Column(db.Integer, primary_key=True)
    username   = db.Column(db.String(80),  unique=True, nullable=False)
    email      = db.Column(db.String(120), unique=True, nullable=False)
    password   = db.Column(db.String(256), nullable=False)
    created_at = db.Column(db.DateTime, default=datetime.utcnow)

    # One-to-many: a user can have many posts
    posts = db.relationship("Post", back_populates="author",
                            lazy="dynamic", cascade="all, delete")

    def to_dict(self):
        return {
            "id":         self.id,
            "username":   self.username,
            "email":      self.email,
            "created_at": self.created_at.isoformat(),
        }


class Post(db.Model):
    __tablename__ = "posts"

    id         = db.Column(db.Integer, primary_key=True)
    title      = db.Column(db.String(200), nullable=False)
    body       = db.Column(db.Text, nullable=False)
    user_id    = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False)
    created_at = db.Column(db.DateTime, default=datetime.utcnow)

    author = db.relationship("User", back_populates="posts")

    # Added (the tutorial's Post has no to_dict): the same shape as larch's post, written
    # the way the tutorial writes User.to_dict. `self.author` is a lazy load, as the
    # tutorial's relationship() leaves it.
    def to_dict(self):
        return {
            "id":         self.id,
            "title":      self.title,
            "body":       self.body,
            "user_id":    self.user_id,
            "author":     {"id": self.author.id, "username": self.author.username},
            "created_at": self.created_at.isoformat(),
        }


# Added: the tutorial names a Product model and a products blueprint but never shows them.
# Written in the style of the models above, with the fields of larch's product.
class Product(db.Model):
    __tablename__ = "products"

    id          = db.Column(db.Integer, primary_key=True)
    name        = db.Column(db.String(200), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    price       = db.Column(db.Numeric(12, 2), nullable=False)
    sku         = db.Column(db.String(64), unique=True)
    stock       = db.Column(db.Integer, nullable=False, default=0)
    created_at  = db.Column(db.DateTime, default=datetime.utcnow)

    def to_dict(self):
        return {
            "id":          self.id,
            "name":        self.name,
            "description": self.description,
            "price":       str(self.price),
            "sku":         self.sku,
            "stock":       self.stock,
            "created_at":  self.created_at.isoformat(),
        }
