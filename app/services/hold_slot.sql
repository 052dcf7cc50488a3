-- The hold rule: calendar.hold_slot() and the JSON it writes.
--
-- One call is one transaction (the caller runs it on an autocommit
-- connection): replay an Idempotency-Key, serialise the candidate (an
-- advisory lock whose ids the caller passes, from app/db/locks.py) and check
-- the hold cap, take the slot with the conditional UPDATE that raises its
-- fence, expire the hold it replaces, insert the pending booking, record its
-- events in the outbox and remember the response.
--
-- Migrations load this file (app/db/sql.py); a migration that changes the
-- rule loads it again. tests/services/test_hold_rule.py fails when the
-- functions installed in the database differ from this file.
--
-- calendar.booking_event_data and calendar.booking_body are the SQL twins of
-- app.events.booking_event_data and app.schemas.booking.render_booking;
-- tests/services/test_hold_function.py proves they produce the same JSON.

CREATE OR REPLACE FUNCTION calendar.iso_utc(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  -- Python's datetime.isoformat() of a UTC instant: microseconds only when non-zero.
  SELECT replace(to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '.000000', '') || '+00:00'
$$;

CREATE OR REPLACE FUNCTION calendar.booking_event_data(
    b calendar.bookings, s calendar.slots, with_contact boolean, extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
           'booking_id', b.id, 'slot_id', b.slot_id, 'hub_id', s.hub_id,
           'candidate_id', b.candidate_id, 'status', b.status,
           'locked_until', calendar.iso_utc(b.hold_expires_at),
           'starts_at', calendar.iso_utc(s.starts_at), 'ends_at', calendar.iso_utc(s.ends_at))
         || CASE WHEN with_contact THEN jsonb_build_object('contact_email', b.contact_email)
                 ELSE '{}'::jsonb END
         || CASE WHEN b.cancel_reason IS NOT NULL THEN jsonb_build_object('cancel_reason', b.cancel_reason)
                 ELSE '{}'::jsonb END
         || extra
$$;

-- The request that caused an event, kept in its stored payload under "_request_id" (the
-- envelope leaves it out: app/events/outbox.py); nothing when there is none.
CREATE OR REPLACE FUNCTION calendar.request_tag(p_request_id text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN p_request_id IS NULL THEN '{}'::jsonb
              ELSE jsonb_build_object('_request_id', p_request_id) END
$$;

CREATE OR REPLACE FUNCTION calendar.booking_body(b calendar.bookings, s calendar.slots)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
           'id', b.id, 'slot_id', b.slot_id, 'hub_id', s.hub_id, 'candidate_id', b.candidate_id,
           'contact_email', b.contact_email, 'status', b.status,
           'locked_until', CASE WHEN b.status = 'pending' THEN calendar.iso_utc(b.hold_expires_at) END,
           'starts_at', calendar.iso_utc(s.starts_at), 'ends_at', calendar.iso_utc(s.ends_at),
           'created_at', calendar.iso_utc(b.created_at), 'waitlist_entry_id', b.waitlist_entry_id,
           'cancel_reason', b.cancel_reason)
$$;

CREATE OR REPLACE FUNCTION calendar.hold_slot(
    p_slot uuid, p_candidate uuid, p_email text, p_session text, p_lock_seconds integer,
    p_max_holds integer, p_lock_class integer, p_lock_id integer, p_token text, p_routing jsonb,
    p_scope text, p_key text, p_fingerprint text, p_request_id text,
    OUT outcome text, OUT status_code integer, OUT body jsonb, OUT expired integer)
LANGUAGE plpgsql AS $$
-- outcome: held | replay | mismatch | limit | not_found | started | unavailable
DECLARE
  v_now timestamptz := statement_timestamp();
  v_until timestamptz := v_now + make_interval(secs => p_lock_seconds);
  v_slot calendar.slots;
  v_booking calendar.bookings;
  v_same boolean;
BEGIN
  -- Idempotency-Key replay: the first answer, or a mismatch if the request differs.
  IF p_key IS NOT NULL THEN
    SELECT k.status_code, k.body::jsonb, k.fingerprint = p_fingerprint
      INTO status_code, body, v_same
      FROM calendar.idempotency_keys k WHERE k.scope = p_scope AND k.key = p_key;
    IF FOUND THEN
      outcome := CASE WHEN v_same THEN 'replay' ELSE 'mismatch' END;
      RETURN;
    END IF;
  END IF;

  -- The hold cap: count-then-insert is atomic per candidate under this lock.
  PERFORM pg_advisory_xact_lock(p_lock_class, p_lock_id);
  IF (SELECT count(*) FROM calendar.bookings
       WHERE candidate_id = p_candidate AND status = 'pending' AND hold_expires_at > v_now)
     >= p_max_holds THEN
    outcome := 'limit';
    RETURN;
  END IF;

  -- The arbiter: free (or its hold ran out), still ahead, at an active hub. Raises the fence.
  -- A withdrawn slot is neither, so it is refused here whatever the Redis gate let through.
  -- A hold that ran out is taken over here only when the waitlist has no claim on it (nobody
  -- waits at the hub, and it was no offer): otherwise the expiry timer ends it and offers it on.
  UPDATE calendar.slots s
     SET status = 'locked', locked_until = v_until, locked_by = p_session,
         fence = s.fence + 1, updated_at = v_now
   WHERE s.id = p_slot AND s.starts_at > v_now
     AND EXISTS (SELECT 1 FROM calendar.hubs h WHERE h.id = s.hub_id AND h.active)
     AND (s.status = 'available'
          OR (s.status = 'locked' AND s.locked_until <= v_now
              AND NOT EXISTS (SELECT 1 FROM calendar.waitlist_entries w
                               WHERE w.hub_id = s.hub_id AND w.status = 'waiting')
              AND NOT EXISTS (SELECT 1 FROM calendar.bookings b
                               WHERE b.slot_id = s.id AND b.status = 'pending'
                                 AND b.waitlist_entry_id IS NOT NULL)))
  RETURNING s.* INTO v_slot;
  IF NOT FOUND THEN
    SELECT * INTO v_slot FROM calendar.slots WHERE id = p_slot;
    outcome := CASE WHEN NOT FOUND THEN 'not_found'
                    WHEN v_slot.starts_at <= v_now THEN 'started'
                    ELSE 'unavailable' END;
    RETURN;
  END IF;

  -- Lazy expiry: the overdue hold this one replaces ends here, with its events first.
  WITH ended AS (
    UPDATE calendar.bookings
       SET status = 'expired', expired_at = v_now, cancel_reason = 'hold_expired', lock_token = NULL,
           updated_at = v_now
     WHERE slot_id = p_slot AND status = 'pending' AND hold_expires_at <= v_now
    RETURNING *)
  INSERT INTO calendar.outbox_events (id, type, routing_key, payload, occurred_at)
  SELECT gen_random_uuid(), e.type, p_routing ->> e.type, e.payload::json, v_now
    FROM ended b
   CROSS JOIN LATERAL (VALUES
       (1, 'BookingExpired', calendar.booking_event_data(b, v_slot, true)
                             || calendar.request_tag(p_request_id)),
       (2, 'SlotUnlocked', calendar.booking_event_data(b, v_slot, false, '{"reason": "expired"}')
                           || calendar.request_tag(p_request_id))
     ) AS e(n, type, payload)
   ORDER BY b.id, e.n;
  GET DIAGNOSTICS expired = ROW_COUNT;
  expired := expired / 2;  -- two events per hold it ended

  INSERT INTO calendar.bookings (id, slot_id, candidate_id, contact_email, status, hold_expires_at,
                                 fence, lock_token, created_at, updated_at)
  VALUES (gen_random_uuid(), p_slot, p_candidate, p_email, 'pending', v_until,
          v_slot.fence, p_token, v_now, v_now)
  RETURNING * INTO v_booking;

  INSERT INTO calendar.outbox_events (id, type, routing_key, payload, occurred_at) VALUES
    (gen_random_uuid(), 'BookingCreated', p_routing ->> 'BookingCreated',
     (calendar.booking_event_data(v_booking, v_slot, true) || calendar.request_tag(p_request_id))::json,
     v_now),
    (gen_random_uuid(), 'SlotLocked', p_routing ->> 'SlotLocked',
     (calendar.booking_event_data(v_booking, v_slot, false) || calendar.request_tag(p_request_id))::json,
     v_now);

  outcome := 'held';
  status_code := 201;
  body := calendar.booking_body(v_booking, v_slot);
  IF p_key IS NOT NULL THEN
    INSERT INTO calendar.idempotency_keys (scope, key, fingerprint, status_code, body)
    VALUES (p_scope, p_key, p_fingerprint, 201, body::json);
  END IF;
END
$$;
