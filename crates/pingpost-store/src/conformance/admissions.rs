//! What every [`Admissions`] must do: checkpoints 1 and 2, the vertical window, races between pings of one consumer, dry runs, DQ marks.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    admits_once_per_vertical_window(&*make().await).await;
    email_or_phone_alone_matches(&*make().await).await;
    a_missing_identifier_never_matches(&*make().await).await;
    vertical_window_edge(&*make().await).await;
    released_admission_lets_a_retry_pass(&*make().await).await;
    a_dry_run_admission_answers_like_a_real_one_and_writes_nothing(&*make().await).await;
    concurrent_identical_admissions_admit_exactly_one(make().await).await;
    concurrent_admissions_by_overlapping_identifiers_admit_at_most_one(make().await).await;
    dq_records_are_returned_with_history(&*make().await).await;
    an_unconfirmed_admission_lapses_after_its_lease(&*make().await).await;
    a_re_sent_admission_is_its_own(&*make().await).await;
    a_submission_older_than_repeat_after_passes_as_a_repeat_and_moves_the_last_submission(&*make().await).await;
    a_repeat_that_never_confirms_gives_back_the_submission_it_replaced(&*make().await).await;
}

/// The vertical's `repeat_after_days` (14 of a 30-day window): a consumer submitted again at
/// least 14 days after its last submission passes as a repeat; the repeat is its last
/// submission from then on, so one pinging every 10 days stays a duplicate.
async fn a_submission_older_than_repeat_after_passes_as_a_repeat_and_moves_the_last_submission<S: Store + ?Sized>(
    s: &S,
) {
    let at = |d: i64| t0() + Duration::days(d);
    let admit_repeats = |idents: Vec<Ident>, now: Timestamp| async move {
        let req = Admission { repeat_after: Some(days(14)), ..admission(idents, "auto", now) };
        let outcome = s.admit(req.clone()).await.expect("store answers");
        if admitted(&outcome) {
            s.confirm_admission(req).await.expect("confirm");
        }
        outcome
    };
    let new = |o: &AdmitOutcome| matches!(o, AdmitOutcome::Admitted { repeat: None, .. });
    let last = |o: &AdmitOutcome| match o {
        AdmitOutcome::Admitted { last_submission, .. } => *last_submission,
        _ => None,
    };
    let first = admit_repeats(vec![email("a"), phone("p")], at(0)).await;
    assert!(new(&first) && last(&first).is_none(), "{first:?}");
    let dup = admit_repeats(vec![email("a")], at(10)).await;
    assert_eq!(dup, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, prior_at: at(0) });
    let repeat = admit_repeats(vec![email("a"), phone("p")], at(15)).await;
    assert!(
        matches!(repeat, AdmitOutcome::Admitted { repeat: Some((IdentKind::Email, prior)), .. } if prior == at(0)),
        "{repeat:?}"
    );
    assert_eq!(last(&repeat), Some(at(0)), "a repeat's last submission is the one it repeats");
    let dup = admit_repeats(vec![phone("p")], at(25)).await;
    assert_eq!(dup, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Phone, prior_at: at(15) }, "the mark moved");
    let again = admit_repeats(vec![phone("p")], at(29)).await;
    assert!(matches!(again, AdmitOutcome::Admitted { repeat: Some((IdentKind::Phone, prior)), .. } if prior == at(15)));
    // Without repeat_after the same consumer is a duplicate, as before repeats.
    let plain = admit(s, vec![phone("p")], "auto", at(44)).await;
    assert_eq!(plain, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Phone, prior_at: at(29) });
    let past = admit_repeats(vec![phone("p")], at(59)).await;
    assert!(new(&past), "past the window: new");
    assert_eq!(last(&past), Some(at(29)), "a submission past the window is still the last one, for the event log");
}

/// A repeat's pending submission replaces the confirmed one; released, or lapsed with its
/// lease, it gives that one back, so the consumer is still a duplicate inside the window (and
/// a repeat again), never new. A re-sent admission of a repeat answers it again.
async fn a_repeat_that_never_confirms_gives_back_the_submission_it_replaced<S: Store + ?Sized>(s: &S) {
    let at = |d: i64| t0() + Duration::days(d);
    let repeats = |now| Admission { repeat_after: Some(days(14)), ..admission(vec![email("a")], "auto", now) };
    let is_repeat_of = |o: &AdmitOutcome, when: Timestamp| matches!(o, AdmitOutcome::Admitted { repeat: Some((_, prior)), .. } if *prior == when);
    assert!(admitted(&admit(s, vec![email("a")], "auto", at(0)).await));
    let released = repeats(at(15));
    assert!(is_repeat_of(&s.admit(released.clone()).await.expect("admit"), at(0)));
    assert!(is_repeat_of(&s.admit(released.clone()).await.expect("re-sent"), at(0)), "a re-sent repeat is its own");
    let held = s.admit(repeats(at(15) + Duration::seconds(1))).await.expect("admit");
    assert!(matches!(held, AdmitOutcome::VerticalDuplicate { .. }), "a repeat in flight holds the consumer: {held:?}");
    s.release_admission(released).await.expect("release");
    let dup = admit(s, vec![email("a")], "auto", at(16)).await;
    assert_eq!(dup, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, prior_at: at(0) }, "given back");

    let lapsed = repeats(at(17));
    assert!(is_repeat_of(&s.admit(lapsed).await.expect("admit"), at(0)));
    let after_lease = repeats(at(17) + PENDING);
    assert!(is_repeat_of(&s.admit(after_lease.clone()).await.expect("admit"), at(0)), "the lapsed one gave it back");
    s.confirm_admission(after_lease).await.expect("confirm");
    let dup = admit(s, vec![email("a")], "auto", at(20)).await;
    assert_eq!(dup, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, prior_at: at(17) + PENDING });
}

async fn admits_once_per_vertical_window<S: Store + ?Sized>(s: &S) {
    assert!(admitted(&admit(s, vec![email("a")], "auto", t0()).await));
    let again = admit(s, vec![email("a")], "auto", t0() + Duration::hours(1)).await;
    assert_eq!(again, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, prior_at: t0() });
    assert!(admitted(&admit(s, vec![email("a")], "solar", t0()).await), "another vertical is independent");
}

async fn email_or_phone_alone_matches<S: Store + ?Sized>(s: &S) {
    assert!(admitted(&admit(s, vec![email("a"), phone("p")], "auto", t0()).await));
    let by_email = admit(s, vec![email("a"), phone("other")], "auto", t0()).await;
    assert!(matches!(by_email, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, .. }), "{by_email:?}");
    let by_phone = admit(s, vec![email("other"), phone("p")], "auto", t0()).await;
    assert!(matches!(by_phone, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Phone, .. }), "{by_phone:?}");
}

async fn a_missing_identifier_never_matches<S: Store + ?Sized>(s: &S) {
    assert!(admitted(&admit(s, vec![email("a")], "auto", t0()).await));
    assert!(admitted(&admit(s, vec![phone("p")], "auto", t0()).await), "no email on either side is no match");
    assert!(admitted(&admit(s, vec![email("b")], "auto", t0()).await));
}

async fn vertical_window_edge<S: Store + ?Sized>(s: &S) {
    assert!(admitted(&admit(s, vec![email("a")], "auto", t0()).await));
    let inside = t0() + Duration::seconds(30 * 86_400 - 1);
    assert!(matches!(admit(s, vec![email("a")], "auto", inside).await, AdmitOutcome::VerticalDuplicate { .. }));
    let outside = t0() + Duration::seconds(30 * 86_400);
    assert!(admitted(&admit(s, vec![email("a")], "auto", outside).await));
}

async fn released_admission_lets_a_retry_pass<S: Store + ?Sized>(s: &S) {
    let req = admission(vec![email("a"), phone("p")], "auto", t0());
    assert!(admitted(&s.admit(req.clone()).await.expect("admit")));
    s.release_admission(req).await.expect("release");
    assert!(admitted(&admit(s, vec![email("a"), phone("p")], "auto", t0()).await));
}

/// A test ping's admission: the verdict and history a real one would get, and no write that
/// could turn a later ping away or outlive it.
async fn a_dry_run_admission_answers_like_a_real_one_and_writes_nothing<S: Store + ?Sized>(s: &S) {
    let dry = |idents, vertical| Admission { dry_run: true, ..admission(idents, vertical, t0() + Duration::hours(1)) };
    let answer = |req: Admission| async move { s.admit(req).await.expect("store answers") };
    // A consumer with a submission on auto, a sale under its email and a DQ under its phone.
    assert!(admitted(&admit(s, vec![email("a"), phone("p")], "auto", t0()).await));
    let r = reservation("s1", vec![email("a")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    sold(s, &r, 1000, t0()).await;
    s.record_dq(vec![phone("p")], vec![BuyerId::new("b2")], t0()).await.expect("dq");
    s.suppress(vec![email("z").hash], t0()).await.expect("suppress");

    let duplicate = AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, prior_at: t0() };
    assert_eq!(answer(dry(vec![email("a")], "auto")).await, duplicate, "checkpoint 2 as for a real ping");
    let suppressed = AdmitOutcome::Suppressed { matched: IdentKind::Email, since: t0() };
    assert_eq!(answer(dry(vec![email("z")], "auto")).await, suppressed, "checkpoint 1 as for a real ping");
    // Another ping's pending submission: a dry run holds no identifier for a race to be
    // decided by, so it is the duplicate at once.
    let later = t0() + Duration::hours(1);
    let pending = admission(vec![email("q")], "auto", later);
    assert!(admitted(&answer(pending.clone()).await));
    let held = answer(dry(vec![phone("q2"), email("q")], "auto")).await;
    assert_eq!(held, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, prior_at: later });
    s.release_admission(pending).await.expect("release");

    // Admitted with the consumer's history, as often as asked: it left no submission behind.
    let first = history(answer(dry(vec![email("a"), phone("p")], "solar")).await);
    assert_eq!((first.sales.len(), first.dq.len()), (1, 1), "{first:?}");
    assert_eq!(history(answer(dry(vec![email("a"), phone("p")], "solar")).await), first, "its retry passes");
    let real = history(admit(s, vec![email("a"), phone("p")], "solar", later).await);
    assert_eq!(real, first, "a real ping after it passes too, with the same history");
    // Nothing at all was written for a consumer only dry runs saw (nor for the phone "q2").
    assert!(admitted(&answer(dry(vec![email("fresh")], "auto")).await));
    let erased = s.erase(vec![email("fresh").hash, phone("q2").hash], t0()).await.expect("erase");
    assert_eq!(erased, Erased::default());
}

async fn concurrent_identical_admissions_admit_exactly_one<S: Admissions + 'static>(s: Arc<S>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let s = Arc::clone(&s);
        tasks.spawn(async move {
            let mut req = admission(vec![email("same"), phone("same")], "auto", t0());
            req.ping_id = format!("ping-{i}");
            s.admit(req).await.expect("admit")
        });
    }
    let outcomes = tasks.join_all().await;
    assert_eq!(outcomes.iter().filter(|o| admitted(o)).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| matches!(o, AdmitOutcome::VerticalDuplicate { .. })).count(), 49);
}

/// Two pings of one consumer, one by email+phone and one by phone alone, racing: the
/// identifiers overlap in one slot only, and still at most one is admitted.
async fn concurrent_admissions_by_overlapping_identifiers_admit_at_most_one<S: Admissions + 'static>(s: Arc<S>) {
    for round in 0..20 {
        let both = admission(vec![email(&format!("e{round}")), phone(&format!("p{round}"))], "auto", t0());
        let mut phone_only = admission(vec![phone(&format!("p{round}"))], "auto", t0());
        phone_only.ping_id = format!("other-{round}");
        let (a, b) = tokio::join!(s.admit(both), s.admit(phone_only));
        let admitted_count = [a.expect("admit"), b.expect("admit")].iter().filter(|o| admitted(o)).count();
        assert_eq!(admitted_count, 1, "round {round}");
    }
}

async fn dq_records_are_returned_with_history<S: Store + ?Sized>(s: &S) {
    s.record_dq(vec![email("a")], vec![BuyerId::new("b1")], t0()).await.expect("dq");
    let h = history(admit(s, vec![email("a"), phone("p")], "auto", t0()).await);
    assert_eq!(h.dq.len(), 1);
    assert_eq!((h.dq[0].buyer.as_str(), h.dq[0].matched, h.dq[0].at), ("b1", IdentKind::Email, t0()));
}

/// A ping that was never answered (it failed, or its engine died) leaves a pending
/// submission that turns the consumer away only while its lease runs.
async fn an_unconfirmed_admission_lapses_after_its_lease<S: Store + ?Sized>(s: &S) {
    let failed = admission(vec![email("a"), phone("p")], "auto", t0());
    assert!(admitted(&s.admit(failed).await.expect("admit")));
    let retry_soon = admit(s, vec![email("a"), phone("p")], "auto", t0() + PENDING - Duration::seconds(1)).await;
    assert!(matches!(retry_soon, AdmitOutcome::VerticalDuplicate { .. }), "the ping may still be running");
    let retry = admit(s, vec![email("a"), phone("p")], "auto", t0() + PENDING).await;
    assert!(admitted(&retry), "the lease ran out: {retry:?}");
    let confirmed_dup = admit(s, vec![phone("p")], "auto", t0() + Duration::days(29)).await;
    assert!(matches!(confirmed_dup, AdmitOutcome::VerticalDuplicate { .. }), "a confirmed one counts for the window");
}

/// An admission and its confirmation re-sent after a lost reply answer their own earlier
/// effect again instead of refusing or doubling it.
async fn a_re_sent_admission_is_its_own<S: Admissions + ?Sized>(s: &S) {
    let req = admission(vec![email("a"), phone("p")], "auto", t0());
    assert!(admitted(&s.admit(req.clone()).await.expect("admit")));
    assert!(admitted(&s.admit(req.clone()).await.expect("admit")), "a re-sent admission is its own, not a duplicate");
    s.confirm_admission(req.clone()).await.expect("confirm");
    assert!(admitted(&s.admit(req.clone()).await.expect("admit")), "even once confirmed");
    s.confirm_admission(req).await.expect("a re-sent confirmation");
}
