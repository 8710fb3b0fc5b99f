use std::time::Duration;

use nimbus_kv::RedbKvStore;

use super::*;

fn log() -> (tempfile::TempDir, EventLog) {
    let dir = tempfile::tempdir().expect("temp dir");
    let kv = RedbKvStore::open(&dir.path().join("kv.redb")).expect("open");
    (dir, EventLog::new(Arc::new(kv), "app"))
}

fn body(text: &str) -> Payload {
    Payload::Message(text.as_bytes().to_vec())
}

const LEASE: Duration = Duration::from_secs(30);

/// A publish of `text` in order with the other events of `key`.
fn ordered(key: &str, text: &str) -> Publish {
    Publish {
        order_key: Some(key.into()),
        ..Publish::now(body(text))
    }
}

#[tokio::test]
async fn a_message_is_leased_once_and_gone_once_acknowledged() -> Result<(), QueueError> {
    let (_dir, log) = log();
    let published = log.publish("q", Publish::now(body("hi"))).await?;
    assert!(!published.duplicate);
    let leased = log.lease("q", 10, LEASE).await?;
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].message.id, published.id);
    assert_eq!(leased[0].attempt, 1);
    assert_eq!(leased[0].message.payload, body("hi"));
    assert!(
        log.lease("q", 10, LEASE).await?.is_empty(),
        "held by its lease"
    );
    assert!(log.lease("other", 10, LEASE).await?.is_empty());
    log.ack(&leased[0]).await?;
    assert!(log.get("q", &published.id).await?.is_none());
    assert_eq!(log.depth("q", 100).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_lease_that_runs_out_delivers_again_with_the_next_attempt() -> Result<(), QueueError> {
    let (_dir, log) = log();
    log.publish("q", Publish::now(body("x"))).await?;
    let first = log.lease("q", 1, Duration::from_millis(1)).await?;
    assert_eq!(first[0].attempt, 1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = log.lease("q", 1, LEASE).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2);
    // The first holder's lease is gone: its retry does nothing.
    assert!(!log.retry(&first[0], "late", Duration::ZERO).await?);
    Ok(())
}

#[tokio::test]
async fn retries_wait_their_delay_and_keep_every_error() -> Result<(), QueueError> {
    let (_dir, log) = log();
    log.publish("q", Publish::now(body("x"))).await?;
    let first = log.lease("q", 1, LEASE).await?;
    assert!(
        log.retry(&first[0], "boom 1", Duration::from_millis(50))
            .await?
    );
    assert!(log.lease("q", 1, LEASE).await?.is_empty(), "not due yet");
    tokio::time::sleep(Duration::from_millis(60)).await;
    let second = log.lease("q", 1, LEASE).await?;
    assert_eq!(second[0].attempt, 2);
    assert_eq!(second[0].message.attempts.len(), 1);
    assert_eq!(second[0].message.attempts[0].error, "boom 1");
    log.dead_letter(
        &second[0],
        Some("boom 2"),
        "max_attempts (2) reached",
        "q.dead",
    )
    .await?;
    assert!(log.lease("q", 1, LEASE).await?.is_empty());
    let dead = log.list("q.dead", None, 10).await?.messages;
    assert_eq!(dead.len(), 1);
    let errors: Vec<&str> = dead[0].attempts.iter().map(|a| a.error.as_str()).collect();
    assert_eq!(errors, ["boom 1", "boom 2"]);
    let why = dead[0].dead.as_ref().expect("dead");
    assert_eq!(why.from, "q");
    // A replay starts the count again, with the same id.
    assert!(log.replay("q.dead", &dead[0].id).await?);
    assert!(log.list("q.dead", None, 10).await?.messages.is_empty());
    let replayed = log.lease("q", 1, LEASE).await?;
    assert_eq!(replayed[0].message.id, dead[0].id);
    assert_eq!(replayed[0].attempt, 1);
    assert!(replayed[0].message.attempts.is_empty());
    assert!(!log.replay("q.dead", &dead[0].id).await?, "replayed once");
    Ok(())
}

#[tokio::test]
async fn a_dedupe_key_publishes_once() -> Result<(), QueueError> {
    let (_dir, log) = log();
    let keyed = |text: &str| Publish {
        dedupe_key: Some("order-42".into()),
        ..Publish::now(body(text))
    };
    let first = log.publish("q", keyed("a")).await?;
    let second = log.publish("q", keyed("b")).await?;
    assert!(second.duplicate);
    assert_eq!(second.id, first.id);
    assert!(
        !log.publish("other", keyed("c")).await?.duplicate,
        "per queue"
    );
    assert_eq!(log.depth("q", 10).await?, 1);
    Ok(())
}

#[tokio::test]
async fn events_of_one_key_wait_for_the_earlier_ones() -> Result<(), QueueError> {
    let (_dir, log) = log();
    log.publish("s", ordered("k", "set")).await?;
    log.publish("s", ordered("k", "delete")).await?;
    log.publish("s", ordered("other", "set")).await?;
    let leased = log.lease("s", 10, LEASE).await?;
    let bodies: Vec<&Payload> = leased.iter().map(|d| &d.message.payload).collect();
    assert_eq!(bodies, [&body("set"), &body("set")], "one per key");
    // A failing first event holds the later one back.
    let first_of_k = &leased[0];
    assert!(log.retry(first_of_k, "no", Duration::ZERO).await?);
    let again = log.lease("s", 10, LEASE).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message.payload, body("set"));
    log.ack(&again[0]).await?;
    let next = log.lease("s", 10, LEASE).await?;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].message.payload, body("delete"));
    Ok(())
}

#[tokio::test]
async fn limits_and_delays_hold() -> Result<(), QueueError> {
    let (_dir, log) = log();
    let big = Publish::now(Payload::Message(vec![0; MAX_MESSAGE_BYTES + 1]));
    assert!(matches!(
        log.publish("q", big).await,
        Err(QueueError::Invalid(_))
    ));
    let late = Publish {
        delay: MAX_DELAY + Duration::from_secs(1),
        ..Publish::now(body("x"))
    };
    assert!(matches!(
        log.publish("q", late).await,
        Err(QueueError::Invalid(_))
    ));
    let delayed = Publish {
        delay: Duration::from_secs(60),
        ..Publish::now(body("x"))
    };
    log.publish("q", delayed).await?;
    assert!(log.lease("q", 1, LEASE).await?.is_empty());
    assert!(log.next_due("q").await?.is_some_and(|due| due > now_ms()));
    Ok(())
}

#[tokio::test]
async fn a_released_message_is_due_at_once_and_its_attempt_is_not_counted() -> Result<(), QueueError>
{
    let (_dir, log) = log();
    log.publish("q", Publish::now(body("x"))).await?;
    let leased = log.lease("q", 1, LEASE).await?;
    log.release(&leased[0]).await?;
    let again = log.lease("q", 1, LEASE).await?;
    assert_eq!(again[0].attempt, 1);
    Ok(())
}

#[tokio::test]
async fn many_messages_lease_in_batches_and_purge() -> Result<(), QueueError> {
    let (_dir, log) = log();
    for i in 0..50 {
        log.publish("q", Publish::now(body(&i.to_string()))).await?;
    }
    let leased = log.lease("q", 100, LEASE).await?;
    assert_eq!(leased.len(), MAX_LEASE_BATCH);
    for delivery in &leased {
        assert!(log.ack(delivery).await?);
    }
    assert_eq!(log.depth("q", 1000).await?, 50 - MAX_LEASE_BATCH);
    assert_eq!(log.purge("q", 10).await?, 10, "at most the limit");
    assert_eq!(log.purge("q", 1000).await?, (40 - MAX_LEASE_BATCH) as u64);
    assert!(log.lease("q", 100, LEASE).await?.is_empty());
    assert_eq!(
        log.depth("q", 1000).await?,
        0,
        "orphaned ready keys were dropped"
    );
    Ok(())
}

#[tokio::test]
async fn a_tick_is_claimed_once_and_its_run_commits_with_the_claim() -> Result<(), QueueError> {
    let (_dir, log) = log();
    let run = |at_ms| {
        Some((
            "cron:n",
            Publish::now(Payload::Schedule {
                name: "n".into(),
                at_ms,
            }),
        ))
    };
    assert!(log.claim_tick("n", 1000, run(1000)).await?);
    assert!(
        !log.claim_tick("n", 1000, run(1000)).await?,
        "once per tick"
    );
    assert!(
        !log.claim_tick("n", 999, run(999)).await?,
        "never an older tick"
    );
    assert_eq!(log.last_tick("n").await?, Some(1000));
    assert!(log.has_live("cron:n").await?);
    assert!(log.claim_tick("n", 2000, None).await?);
    assert_eq!(
        log.depth("cron:n", 10).await?,
        1,
        "a skipped tick publishes nothing"
    );
    Ok(())
}

#[tokio::test]
async fn an_earlier_event_committed_late_waits_for_the_one_in_flight() -> Result<(), QueueError> {
    let (_dir, log) = log();
    // Made first (smaller id), committed last: as a write in another process might be.
    let (_, late) = log.event_ops("s", ordered("k", "earlier"))?;
    log.publish("s", ordered("k", "later")).await?;
    let in_flight = log.lease("s", 10, LEASE).await?;
    assert_eq!(in_flight.len(), 1);
    log.kv().apply(nimbus_kv::Batch { ops: late }).await?;
    assert!(
        log.lease("s", 10, LEASE).await?.is_empty(),
        "one event of a key at a time"
    );
    assert!(log.ack(&in_flight[0]).await?);
    let next = log.lease("s", 10, LEASE).await?;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].message.payload, body("earlier"));
    Ok(())
}

#[tokio::test]
async fn a_delivery_whose_lease_ran_out_settles_nothing() -> Result<(), QueueError> {
    let (_dir, log) = log();
    log.publish("q", Publish::now(body("x"))).await?;
    let first = log.lease("q", 1, Duration::from_millis(1)).await?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = log.lease("q", 1, LEASE).await?;
    assert!(!log.ack(&first[0]).await?, "the lease is gone");
    log.dead_letter(&first[0], Some("late"), "too late", "q.dead")
        .await?;
    assert!(log.list("q.dead", None, 10).await?.messages.is_empty());
    assert!(log.ack(&second[0]).await?);
    Ok(())
}

#[tokio::test]
async fn errors_are_cut_and_only_the_latest_attempts_kept() -> Result<(), QueueError> {
    let (_dir, log) = log();
    log.publish("q", Publish::now(body("x"))).await?;
    let huge = "é".repeat(MAX_ERROR_BYTES);
    for _ in 0..(MAX_KEPT_ATTEMPTS + 5) {
        let leased = log.lease("q", 1, LEASE).await?;
        assert!(log.retry(&leased[0], &huge, Duration::ZERO).await?);
    }
    let leased = log.lease("q", 1, LEASE).await?;
    let attempts = &leased[0].message.attempts;
    assert_eq!(attempts.len(), MAX_KEPT_ATTEMPTS);
    assert!(attempts.iter().all(|a| a.error.len() <= MAX_ERROR_BYTES));
    assert!(matches!(
        log.publish("a/b", Publish::now(body("x"))).await,
        Err(QueueError::Invalid(_))
    ));
    Ok(())
}

#[tokio::test]
async fn messages_nobody_handles_are_dead_lettered_after_their_retention() -> Result<(), QueueError>
{
    let (_dir, log) = log();
    let expiring = Publish {
        expires_at_ms: Some(now_ms()),
        ..Publish::now(body("old"))
    };
    log.publish("unread", expiring).await?;
    log.publish("unread", Publish::now(body("fresh"))).await?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(log.expire("unread", "unread.dead", 100).await?, 1);
    let dead = log.list("unread.dead", None, 10).await?.messages;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, body("old"));
    assert!(
        dead[0]
            .dead
            .as_ref()
            .is_some_and(|d| d.reason.contains("retention"))
    );
    assert_eq!(log.depth("unread", 10).await?, 1, "the fresh one waits on");
    Ok(())
}

#[tokio::test]
async fn a_busy_key_does_not_hold_back_the_others() -> Result<(), QueueError> {
    let (_dir, log) = log();
    for i in 0..300 {
        log.publish("s", ordered("busy", &format!("busy {i}")))
            .await?;
    }
    log.publish("s", ordered("quiet", "quiet")).await?;
    let mut leased = log.lease("s", 10, LEASE).await?;
    leased.extend(log.lease("s", 10, LEASE).await?);
    let bodies: Vec<&Payload> = leased.iter().map(|d| &d.message.payload).collect();
    assert_eq!(bodies, [&body("busy 0"), &body("quiet")]);
    // Settling the head makes the next of its key due at once.
    assert!(log.ack(&leased[0]).await?);
    let next = log.lease("s", 10, LEASE).await?;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].message.payload, body("busy 1"));
    Ok(())
}

#[tokio::test]
async fn a_parked_event_whose_head_went_without_unparking_it_is_found_again()
-> Result<(), QueueError> {
    let (_dir, log) = log();
    log.publish("s", ordered("k", "first")).await?;
    log.publish("s", ordered("k", "second")).await?;
    let first = log.lease("s", 10, LEASE).await?;
    assert_eq!(first.len(), 1, "the second is parked");
    // The head leaves by a path that does not unpark (as a race can make happen).
    assert!(log.kv().apply(log.removal(&first[0])).await?);
    assert!(log.lease("s", 10, LEASE).await?.is_empty(), "stranded");
    assert_eq!(log.unpark_stranded("s", None, 100).await?.0, 1);
    let second = log.lease("s", 10, LEASE).await?;
    assert_eq!(second[0].message.payload, body("second"));
    Ok(())
}

#[tokio::test]
async fn a_head_that_fails_keeps_its_key_even_behind_a_late_commit() -> Result<(), QueueError> {
    let (_dir, log) = log();
    let (_, late) = log.event_ops("s", ordered("k", "earlier"))?;
    log.publish("s", ordered("k", "later")).await?;
    let head = log.lease("s", 10, LEASE).await?;
    log.kv().apply(nimbus_kv::Batch { ops: late }).await?;
    // The head fails and comes due again: it is still the key's, and goes on.
    assert!(log.retry(&head[0], "no", Duration::ZERO).await?);
    let again = log.lease("s", 10, LEASE).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message.payload, body("later"));
    assert!(log.ack(&again[0]).await?);
    let next = log.lease("s", 10, LEASE).await?;
    assert_eq!(next[0].message.payload, body("earlier"));
    Ok(())
}

#[tokio::test]
async fn a_key_held_by_an_event_whose_record_is_gone_is_freed() -> Result<(), QueueError> {
    let (_dir, log) = log();
    log.publish("s", ordered("k", "lost")).await?;
    log.publish("s", ordered("k", "next")).await?;
    let lost = log.lease("s", 10, LEASE).await?;
    // Its record vanishes, leaving its order entry and its mark behind.
    let id = &lost[0].message.id;
    assert!(
        log.kv()
            .delete(
                &nimbus_kv::StoreId::new("app", EVENTS_STORE),
                &format!("m/s/{id}")
            )
            .await?
    );
    assert!(log.lease("s", 10, LEASE).await?.is_empty());
    assert_eq!(log.unpark_stranded("s", None, 100).await?.0, 1);
    let next = log.lease("s", 10, LEASE).await?;
    assert_eq!(next[0].message.payload, body("next"));
    Ok(())
}
