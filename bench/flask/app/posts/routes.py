# Added: the tutorial defines the Post model but no routes for it. Written the way the
# tutorial writes the users blueprint (list with order_by().paginate(), get_or_404) and its
# protected-route example (@jwt_required(), get_jwt_identity()).
from flask import Blueprint, jsonify, request
from flask_jwt_extended import jwt_required, get_jwt_identity
from app import db
from app.models import Post

posts_bp = Blueprint("posts", __name__)


@posts_bp.route("/", methods=["GET"])
def list_posts():
    page  = request.args.get("page", 1, type=int)
    limit = request.args.get("limit", 20, type=int)

    pagination = Post.query.order_by(Post.created_at.desc()) \
                           .paginate(page=page, per_page=limit, error_out=False)
    return jsonify({
        "posts":    [p.to_dict() for p in pagination.items],
        "total":    pagination.total,
        "page":     pagination.page,
        "pages":    pagination.pages,
    }), 200


@posts_bp.route("/<int:post_id>", methods=["GET"])
def get_post(post_id):
    post = Post.query.get_or_404(post_id)
    return jsonify(post.to_dict()), 200


@posts_bp.route("/", methods=["POST"])
@jwt_required()
def create_post():
    data = request.get_json()

    # Basic validation
    if not data or "title" not in data or "body" not in data:
        return jsonify({"error": "title and body are required"}), 400

    post = Post(
        title   = data["title"],
        body    = data["body"],
        user_id = get_jwt_identity(),
    )
    db.session.add(post)
    db.session.commit()
    return jsonify(post.to_dict()), 201
