"""The local web chat front-end."""
