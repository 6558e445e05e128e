# Added: the tutorial's blueprint diagram names "products blueprint: GET /products,
# POST /products" but shows no code. Written like the users and posts blueprints.
from flask import Blueprint, jsonify, request
from flask_jwt_extended import jwt_required
from app import db
from app.models import Product

products_bp = Blueprint("products", __name__)


@products_bp.route("/", methods=["GET"])
def list_products():
    page  = request.args.get("page", 1, type=int)
    limit = request.args.get("limit", 20, type=int)

    pagination = Product.query.order_by(Product.created_at.desc()) \
                              .paginate(page=page, per_page=limit, error_out=False)
    return jsonify({
        "products": [p.to_dict() for p in pagination.items],
        "total":    pagination.total,
        "page":     pagination.page,
        "pages":    pagination.pages,
    }), 200


@products_bp.route("/<int:product_id>", methods=["GET"])
def get_product(product_id):
    product = Product.query.get_or_404(product_id)
    return jsonify(product.to_dict()), 200


@products_bp.route("/", methods=["POST"])
@jwt_required()
def create_product():
    data = request.get_json()

    # Basic validation
    if not data or "name" not in data or "price" not in data:
        return jsonify({"error": "name and price are required"}), 400

    product = Product(
        name        = data["name"],
        description = data.get("description", ""),
        price       = data["price"],
        sku         = data.get("sku"),
        stock       = data.get("stock", 0),
    )
    db.session.add(product)
    db.session.commit()
    return jsonify(product.to_dict()), 201
