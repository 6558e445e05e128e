# Application factory, as in the tutorial (app/__init__.py), with its global error handlers.
# Additions, each marked below: the posts and products blueprints (the tutorial's blueprint
# diagram names a products blueprint and shows Post/Product but gives no routes for them) and
# a trivial GET /healthz for the benchmark.
from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy
from flask_jwt_extended import JWTManager
from flask_migrate import Migrate
from werkzeug.exceptions import HTTPException

db = SQLAlchemy()
jwt = JWTManager()
migrate = Migrate()


def create_app(config_name="development"):
    app = Flask(__name__)

    # Load config
    from app.config import config_map
    app.config.from_object(config_map[config_name])

    # Initialise extensions
    db.init_app(app)
    jwt.init_app(app)
    migrate.init_app(app, db)

    # Register blueprints
    from app.auth.routes import auth_bp
    from app.users.routes import users_bp
    from app.posts.routes import posts_bp          # added: routes for the Post model
    from app.products.routes import products_bp    # added: the diagram's products blueprint

    app.register_blueprint(auth_bp,    url_prefix="/auth")
    app.register_blueprint(users_bp,   url_prefix="/users")
    app.register_blueprint(posts_bp,   url_prefix="/posts")
    app.register_blueprint(products_bp, url_prefix="/products")

    register_error_handlers(app)

    # Added for the benchmark (the tutorial has no health route).
    @app.route("/healthz", methods=["GET"])
    def healthz():
        return jsonify({"status": "ok"}), 200

    return app


def register_error_handlers(app):

    @app.errorhandler(HTTPException)
    def http_error(e):
        return jsonify({
            "error":   e.name,
            "message": e.description,
            "status":  e.code,
        }), e.code

    @app.errorhandler(Exception)
    def unhandled_error(e):
        app.logger.error("Unhandled exception: %s", str(e))
        return jsonify({
            "error":   "Internal Server Error",
            "message": "An unexpected error occurred.",
            "status":  500,
        }), 500
