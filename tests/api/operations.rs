//! Contract section 10 (`/healthz`, `/readyz`).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, json_of, spawn_app};

crate::tests! {
    async fn healthz_is_ok() {
        let app = spawn_app().await;
        assert_eq!(
            json_of(app.get("/healthz", None).await, StatusCode::OK).await,
            json!({"status": "ok"})
        );
    }

    async fn readyz_follows_the_database() {
        let app = spawn_app().await;
        let ready = json_of(app.get("/readyz", None).await, StatusCode::OK).await;
        assert_eq!(ready["status"], "ok");
        // The suite really runs on the backend it says it does.
        assert_eq!(ready["database"], crate::helpers::current_backend().name());
        app.state.db.clone().close().await.unwrap();
        assert_error(
            app.get("/readyz", None).await,
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
        // The process itself is still up.
        assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    }
}
