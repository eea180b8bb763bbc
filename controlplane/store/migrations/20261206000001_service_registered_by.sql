-- Who registered each service instance (`key:<id>`, `user:<email>`, or `local` for the services
-- of the control plane's own process): only they may report for it afterwards.
ALTER TABLE services ADD COLUMN registered_by TEXT;
