"""People are told: mails queued with the change that calls for them, sent by the deliverer."""
