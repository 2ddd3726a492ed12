"""Queue domain and its storage: services, counters, tellers and tickets kept in SQLite."""

from queue_core.errors import QueueError
from queue_core.hall import Hall
from queue_core.model import Counter, HallConfig, Issued, Service, Teller, Ticket
from queue_core.storage import open_database

__all__ = ["Counter", "Hall", "HallConfig", "Issued", "QueueError", "Service", "Teller",
           "Ticket", "open_database"]
