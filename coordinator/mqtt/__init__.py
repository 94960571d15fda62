"""The coordinator's MQTT side: the paho link, and Mosquitto's config, logins and ACL."""
