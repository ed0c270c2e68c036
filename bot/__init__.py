"""mascotbot bot: chat front-ends, votes, and the nightly loop. Never imports torch."""
