import uvicorn

from services.gateway.core.config import get_settings
from services.gateway.main import create_app

settings = get_settings()
uvicorn.run(
    create_app(settings),
    host=settings.host,
    port=settings.port,
    log_level=settings.log_level,
    access_log=False,
)
