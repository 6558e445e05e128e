//! The whole OpenAPI document as a snapshot: any change to a route, a request or response
//! type or a validation rule shows up here in review. After an intended change, accept it
//! with `cargo insta review` (or `INSTA_UPDATE=always cargo test --test openapi`).

#[test]
fn the_openapi_document() {
    let document = larch::router::document(larch::config::DEFAULT_PASSWORD_MIN_LENGTH)
        .to_pretty_json()
        .expect("the document serialises");
    insta::assert_snapshot!("openapi", document);
}

#[test]
fn the_configured_password_rule_is_documented() {
    let document = serde_json::to_value(larch::router::document(12)).unwrap();
    let password = &document["components"]["schemas"]["Password"];
    assert_eq!(password["minLength"], 12);
}
