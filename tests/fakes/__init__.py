"""Local fakes of the services tests cannot reach (X, Twilio)."""
