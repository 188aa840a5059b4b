"""Telling people what happened (docs/notifications.md): notification rules as data, the
tracked consumer that derives notifications and deliveries from stored events, webhook
subscriptions, and the circular process's follower."""
