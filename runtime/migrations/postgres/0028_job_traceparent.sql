-- The W3C trace context of the span that queued a job (an API request, a
-- payment, a timer), so its run continues that trace; NULL when the host
-- exports no traces.
ALTER TABLE jobs ADD COLUMN traceparent TEXT;
