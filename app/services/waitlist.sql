-- The waitlist's rule: who gets a slot that becomes free, decided in the transaction that frees it.
--
-- An entry is eligible for a slot when it is `waiting` at the slot's hub, the
-- slot's local date lies in [from_date, to_date], the slot starts more than
-- the cut-off from now, the candidate holds fewer pending bookings than the
-- hold cap, the entry has not passed on this slot before (declined it or let
-- an offer of it run out) and, for a swap entry, the slot starts before the
-- swapped booking's slot.
--
-- calendar.offer_slots: each given slot that is free, earliest start first,
--   goes to the eligible entry that joined first. (An entry that a concurrent
--   transaction resumes while a long call runs may miss that call's slots.)
-- calendar.offer_to_entries: each given waiting entry, first joined first,
--   gets the earliest-starting eligible free slot.
-- Both make the offer the same way (calendar.make_offer): the slot is locked
-- (fence raised) until the offer runs out, a pending booking carries the
-- entry's id and email, the entry is `offered`, and BookingCreated, SlotLocked
-- and SlotOffered go to the outbox. They return what they offered, so the
-- caller can set the Redis gate key after its commit.
--
-- Concurrency: slots and entries are locked FOR UPDATE in that order (slot,
-- then entry), the order every other writer uses; a row changed meanwhile is
-- re-checked by PostgreSQL, so no slot is offered twice and no entry holds two
-- offers, whatever runs at once. Migrations load this file (app/db/sql.py).

CREATE OR REPLACE FUNCTION calendar.make_offer(
    p_slot calendar.slots, p_entry calendar.waitlist_entries, p_now timestamptz,
    p_offer_min integer, p_offer_max integer, p_routing jsonb, p_request_id text,
    OUT slot_id uuid, OUT hub_id uuid, OUT booking_id uuid, OUT token text, OUT expires_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_slot calendar.slots;
  v_booking calendar.bookings;
BEGIN
  -- A slot a week away is held about 8 hours, two days away 2.4 hours.
  expires_at := p_now + make_interval(secs => least(greatest(
      extract(epoch FROM p_slot.starts_at - p_now) / 20, p_offer_min), p_offer_max));
  token := replace(gen_random_uuid()::text, '-', '') || '.waitlist';
  UPDATE calendar.slots
     SET status = 'locked', locked_until = expires_at, locked_by = 'waitlist', fence = fence + 1,
         updated_at = p_now
   WHERE id = p_slot.id
  RETURNING * INTO v_slot;
  INSERT INTO calendar.bookings (id, slot_id, candidate_id, contact_email, status, hold_expires_at,
                                 fence, lock_token, created_at, updated_at, waitlist_entry_id)
  VALUES (gen_random_uuid(), v_slot.id, p_entry.candidate_id, p_entry.contact_email, 'pending',
          expires_at, v_slot.fence, token, p_now, p_now, p_entry.id)
  RETURNING * INTO v_booking;
  slot_id := v_slot.id;
  hub_id := v_slot.hub_id;
  booking_id := v_booking.id;
  UPDATE calendar.waitlist_entries SET status = 'offered', updated_at = p_now WHERE id = p_entry.id;
  INSERT INTO calendar.outbox_events (id, type, routing_key, payload, occurred_at) VALUES
    (gen_random_uuid(), 'BookingCreated', p_routing ->> 'BookingCreated',
     (calendar.booking_event_data(v_booking, v_slot, true) || calendar.request_tag(p_request_id))::json,
     p_now),
    (gen_random_uuid(), 'SlotLocked', p_routing ->> 'SlotLocked',
     (calendar.booking_event_data(v_booking, v_slot, false) || calendar.request_tag(p_request_id))::json,
     p_now),
    (gen_random_uuid(), 'SlotOffered', p_routing ->> 'SlotOffered',
     (jsonb_build_object('booking_id', v_booking.id, 'slot_id', v_slot.id, 'hub_id', v_slot.hub_id,
                         'candidate_id', p_entry.candidate_id, 'waitlist_entry_id', p_entry.id,
                         'starts_at', calendar.iso_utc(v_slot.starts_at),
                         'expires_at', calendar.iso_utc(expires_at))
      || calendar.request_tag(p_request_id))::json, p_now);
END
$$;

CREATE OR REPLACE FUNCTION calendar.waitlist_eligible(
    p_entry calendar.waitlist_entries, p_slot calendar.slots, p_timezone text, p_now timestamptz,
    p_cutoff_seconds integer, p_max_holds integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT p_entry.status = 'waiting'
     AND p_entry.hub_id = p_slot.hub_id
     AND (p_slot.starts_at AT TIME ZONE p_timezone)::date BETWEEN p_entry.from_date AND p_entry.to_date
     AND p_slot.starts_at > p_now + make_interval(secs => p_cutoff_seconds)
     AND NOT EXISTS (SELECT 1 FROM calendar.waitlist_passes wp
                      WHERE wp.entry_id = p_entry.id AND wp.slot_id = p_slot.id)
     AND (p_entry.swap_booking_id IS NULL OR p_slot.starts_at <
            (SELECT s.starts_at FROM calendar.bookings b JOIN calendar.slots s ON s.id = b.slot_id
              WHERE b.id = p_entry.swap_booking_id))
     AND (SELECT count(*) FROM calendar.bookings b
           WHERE b.candidate_id = p_entry.candidate_id AND b.status = 'pending'
             AND b.hold_expires_at > p_now) < p_max_holds
$$;

CREATE OR REPLACE FUNCTION calendar.offer_slots(
    p_slots uuid[], p_now timestamptz, p_cutoff_seconds integer, p_max_holds integer,
    p_offer_min integer, p_offer_max integer, p_routing jsonb, p_request_id text)
RETURNS TABLE (slot_id uuid, hub_id uuid, booking_id uuid, token text, expires_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_slot calendar.slots;
  v_hub uuid;
  v_timezone text;
  v_entry calendar.waitlist_entries;
  v_head boolean;
  -- Entries up to the floor were all offered a slot by this call: later slots need not look
  -- at them again, so publishing 1,000 slots to 10,000 waiters reads each entry about once.
  v_floor_at timestamptz;
  v_floor_id uuid;
BEGIN
  FOR v_slot IN
    SELECT s.* FROM calendar.slots s
     WHERE s.id = ANY (p_slots) AND s.status = 'available'
       AND s.starts_at > p_now + make_interval(secs => p_cutoff_seconds)
     ORDER BY s.hub_id, s.starts_at, s.lane, s.id
       FOR UPDATE
  LOOP
    IF v_hub IS DISTINCT FROM v_slot.hub_id THEN
      v_hub := v_slot.hub_id;
      v_floor_at := '-infinity';
      v_floor_id := '00000000-0000-0000-0000-000000000000';
      SELECT h.timezone INTO v_timezone FROM calendar.hubs h WHERE h.id = v_hub AND h.active;
    END IF;
    CONTINUE WHEN v_timezone IS NULL;
    -- The first waiting entry past the floor, if it is eligible; else the first eligible one.
    SELECT e.* INTO v_entry FROM calendar.waitlist_entries e
     WHERE e.hub_id = v_hub AND e.status = 'waiting' AND (e.joined_at, e.id) > (v_floor_at, v_floor_id)
     ORDER BY e.joined_at, e.id
     LIMIT 1
       FOR UPDATE;
    CONTINUE WHEN NOT FOUND;
    v_head := calendar.waitlist_eligible(v_entry, v_slot, v_timezone, p_now, p_cutoff_seconds, p_max_holds);
    IF NOT v_head THEN
      SELECT e.* INTO v_entry FROM calendar.waitlist_entries e
       WHERE e.hub_id = v_hub AND e.status = 'waiting' AND (e.joined_at, e.id) > (v_floor_at, v_floor_id)
         AND calendar.waitlist_eligible(e, v_slot, v_timezone, p_now, p_cutoff_seconds, p_max_holds)
       ORDER BY e.joined_at, e.id
       LIMIT 1
         FOR UPDATE;
      CONTINUE WHEN NOT FOUND;
    END IF;
    RETURN QUERY SELECT * FROM calendar.make_offer(v_slot, v_entry, p_now, p_offer_min, p_offer_max,
                                                   p_routing, p_request_id);
    IF v_head THEN
      v_floor_at := v_entry.joined_at;
      v_floor_id := v_entry.id;
    END IF;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION calendar.offer_to_entries(
    p_entries uuid[], p_now timestamptz, p_cutoff_seconds integer, p_max_holds integer,
    p_offer_min integer, p_offer_max integer, p_routing jsonb, p_request_id text)
RETURNS TABLE (slot_id uuid, hub_id uuid, booking_id uuid, token text, expires_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_entry calendar.waitlist_entries;
  v_timezone text;
  v_slot calendar.slots;
BEGIN
  FOR v_entry IN
    SELECT e.* FROM calendar.waitlist_entries e
     WHERE e.id = ANY (p_entries) AND e.status = 'waiting'
     ORDER BY e.joined_at, e.id
  LOOP
    SELECT h.timezone INTO v_timezone FROM calendar.hubs h WHERE h.id = v_entry.hub_id AND h.active;
    CONTINUE WHEN NOT FOUND;
    -- A slot being changed by another transaction is skipped: that one decides its fate.
    SELECT s.* INTO v_slot FROM calendar.slots s
     WHERE s.hub_id = v_entry.hub_id AND s.status = 'available'
       AND s.starts_at > p_now + make_interval(secs => p_cutoff_seconds)
       AND calendar.waitlist_eligible(v_entry, s, v_timezone, p_now, p_cutoff_seconds, p_max_holds)
     ORDER BY s.starts_at, s.lane, s.id
     LIMIT 1
       FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    -- The entry row: lock it, and give up if it changed since it was read.
    PERFORM 1 FROM calendar.waitlist_entries e WHERE e.id = v_entry.id AND e.status = 'waiting' FOR UPDATE;
    CONTINUE WHEN NOT FOUND;
    RETURN QUERY SELECT * FROM calendar.make_offer(v_slot, v_entry, p_now, p_offer_min, p_offer_max,
                                                   p_routing, p_request_id);
  END LOOP;
END
$$;
