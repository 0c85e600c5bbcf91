"""The HTTP gateway: `GET /recommend?user_id=` over Triton gRPC. Runs in its own environment."""
