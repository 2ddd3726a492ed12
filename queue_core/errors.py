"""Domain errors: each says what was refused and carries the short text a keypad display shows."""


class QueueError(Exception):
    """Root of every refusal by the queue; the operation that raised it changed nothing."""

    display = "ERROR"


class UnknownService(QueueError, LookupError):
    display = "NO SUCH SERVICE"


class UnknownCounter(QueueError, LookupError):
    display = "NO SUCH COUNTER"


class UnknownTicket(QueueError, LookupError):
    display = "NO SUCH TICKET"


class LoginRefused(QueueError, PermissionError):
    """Unknown teller, wrong PIN, or the teller or counter is taken."""

    display = "LOGIN REFUSED"


class WrongPin(LoginRefused):
    """Unknown teller or wrong PIN."""


class LoginDelayed(LoginRefused):
    """Too many wrong PINs in a row at this counter: logins there wait a while."""

    display = "WAIT, LOGIN LOCKED"


class NotLoggedIn(QueueError, PermissionError):
    display = "NOT LOGGED IN"


class CounterPaused(QueueError):
    display = "PAUSED"


class ServiceFull(QueueError):
    """The service's number range or daily cap is used up for today."""

    display = "SERVICE FULL"


class ServiceClosed(QueueError):
    """The service is closed to new tickets (Hall.close_service); those waiting are still called."""

    display = "SERVICE CLOSED"


class NoCurrentTicket(QueueError):
    display = "NO TICKET"


class WrongState(QueueError):
    """The operation does not apply to the ticket in its present state."""

    display = "NOT ALLOWED"


class NothingToRate(QueueError):
    """No visit finished at this counter within the rating window, or it is rated already."""

    display = "NOTHING TO RATE"


class ReconfigurationRefused(QueueError, ValueError):
    """A new configuration would orphan waiting tickets, a counter in use or a teller at work."""

    display = "NOT ALLOWED"


class UserRefused(QueueError, ValueError):
    """A back-office user or token that cannot be added, changed or removed as asked."""

    display = "NOT ALLOWED"


class PlaylistRefused(QueueError, ValueError):
    """A playlist item that cannot be added, moved or removed as asked."""

    display = "NOT ALLOWED"


class StorageError(QueueError, RuntimeError):
    """The database cannot be opened as one, or was written by a newer firmware."""

    display = "STORAGE FAULT"


class NotInFlow(QueueError):
    """A hospital's flow does not lead there, or not by whoever asked."""

    display = "NOT IN FLOW"


class UnknownPatient(QueueError, LookupError):
    """The HIS names a visit or a patient this box has no registration of."""

    display = "NO SUCH PATIENT"


class UnknownDoctor(QueueError, LookupError):
    display = "NO SUCH DOCTOR"


class UnknownDepartment(QueueError, LookupError):
    """The HIS names a department no stage of the flow lists."""

    display = "NO SUCH DEPARTMENT"


class DuplicateMessage(QueueError):
    """An HIS message reuses the control id of another message."""
