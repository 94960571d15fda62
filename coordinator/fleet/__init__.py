"""The fleet as ops watch it: liveness, per-kiosk facts, alerts, timelines, rollouts and
the monitor that keeps them (pure judgements where possible, read by API and dashboard)."""
