//! Property: for any mix of answering, declining, failing, panicking and slow impls, a
//! collect-all call gives the same outcomes (same plugins, same order, same values) whether it
//! runs sequentially or in parallel, with or without a concurrency bound.

use std::time::Duration;

use hookspecs::Compute;
use hookwire::{FutureExt, HookManager, ImplOutcome};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Behaviour {
    Answer(u64),
    Decline,
    Fail,
    Panic,
    /// Waits longer than its timeout.
    Hang,
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        (0u64..100).prop_map(Behaviour::Answer),
        Just(Behaviour::Decline),
        Just(Behaviour::Fail),
        Just(Behaviour::Panic),
        Just(Behaviour::Hang),
    ]
}

fn summary(out: &hookwire::HookOutcome<u64>) -> Vec<String> {
    out.iter()
        .map(|(p, o)| match o {
            ImplOutcome::Value(v) => format!("{p}={v}"),
            other => format!("{p}:{}", other.kind()),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn sequential_and_parallel_agree(
        impls in prop::collection::vec((behaviour(), 0u64..30, -1i32..=1), 1..8),
        bound in 1usize..4,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let pm = HookManager::new();
            for (i, (b, delay, prio)) in impls.iter().cloned().enumerate() {
                pm.register(&format!("p{i}"), move |r| {
                    r.hook_fn::<Compute>(move |_| {
                        let b = b.clone();
                        async move {
                            tokio::time::sleep(Duration::from_millis(delay)).await;
                            match b {
                                Behaviour::Answer(v) => Ok(Some(v)),
                                Behaviour::Decline => Ok(None),
                                Behaviour::Fail => Err("failed".into()),
                                Behaviour::Panic => panic!("panicked"),
                                Behaviour::Hang => {
                                    futures::future::pending::<()>().await;
                                    Ok(None)
                                }
                            }
                        }
                        .boxed()
                    })
                    .priority(prio)
                    .timeout(Duration::from_millis(50))
                    .add()
                })
                .unwrap();
            }
            let seq = pm.hook::<Compute>().sequential().call(&0).await.unwrap();
            let par = pm.hook::<Compute>().parallel().call(&0).await.unwrap();
            let bounded = pm.hook::<Compute>().parallel().max_in_flight(bound).call(&0).await.unwrap();
            prop_assert_eq!(summary(&seq), summary(&par));
            prop_assert_eq!(summary(&seq), summary(&bounded));
            prop_assert_eq!(seq.len(), impls.len());
            Ok(())
        })?;
    }
}
