import os
from dotenv import load_dotenv

load_dotenv()


class BaseConfig:
    SECRET_KEY = os.getenv("SECRET_KEY", "change-me")
    JWT_SECRET_KEY = os.getenv("JWT_SECRET_KEY", "change-me-jwt")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Added: the tutorial passes an int as the JWT identity (create_access_token(identity=
    # user.id)); PyJWT >= 2.10 rejects a non-string "sub" ("Subject must be a string") unless
    # Flask-JWT-Extended (>= 4.7) is told not to verify it.
    JWT_VERIFY_SUB = False


class DevelopmentConfig(BaseConfig):
    DEBUG = True
    SQLALCHEMY_DATABASE_URI = os.getenv(
        "DATABASE_URL", "sqlite:///dev.db"
    )


class ProductionConfig(BaseConfig):
    DEBUG = False
    SQLALCHEMY_DATABASE_URI = os.getenv("DATABASE_URL")


config_map = {
    "development": DevelopmentConfig,
    "production":  ProductionConfig,
}
