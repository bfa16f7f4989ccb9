//! `Server` shuts down gracefully on a real SIGTERM sent to this process (alone in its
//! binary: the signal handler it installs is process-wide).
#![cfg(unix)]

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use hookwire::web::Server;
use hookwire::PluginHost;

#[tokio::test]
async fn sigterm_stops_the_server_after_the_request_in_flight() {
    let (entered_tx, mut entered) = tokio::sync::mpsc::channel::<()>(1);
    let router = Router::new().route("/", get(|| async { "up" })).route(
        "/slow",
        get(move || {
            let entered_tx = entered_tx.clone();
            async move {
                entered_tx.send(()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                "finished"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = Server::new(PluginHost::new(), router);
    let trigger = server.shutdown_trigger();
    let task = tokio::spawn(server.run(listener));
    let http = reqwest::Client::new();
    // Once a request was served, the server listens for signals.
    let up = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(up.text().await.unwrap(), "up");

    let slow = tokio::spawn(http.get(format!("{base}/slow")).send());
    entered.recv().await.unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let res = slow.await.unwrap().unwrap();
    assert_eq!(res.text().await.unwrap(), "finished");
    let stopped = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops after SIGTERM")
        .unwrap()
        .unwrap();
    assert!(stopped.is_clean());
    assert!(
        trigger.is_triggered(),
        "the signal went through the trigger"
    );
}
