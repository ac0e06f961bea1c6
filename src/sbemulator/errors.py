"""Errors: startup problems are exceptions that name what is wrong; broker refusals carry
the AMQP error condition the SDK maps to its own exception types."""

from __future__ import annotations


class EmulatorError(Exception):
    """Root of every error the emulator raises on purpose."""


class ConfigError(EmulatorError):
    """A config file (or command-line entity) is invalid. The message names the file, the
    entity and the field at fault, and what was found."""


class BrokerError(EmulatorError):
    """An operation the broker refuses. `condition` is the AMQP error condition symbol that
    goes on the wire (detach, rejected outcome or management `errorCondition`);
    `status` is the management status code used when the refusal answers a request."""

    condition = "amqp:internal-error"
    status = 500

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class EntityNotFound(BrokerError):
    # The SDK maps amqp:not-found to MessagingEntityNotFoundError and does not retry it.
    condition = "amqp:not-found"
    status = 404


class NotAllowed(BrokerError):
    condition = "amqp:not-allowed"
    status = 400


class ArgumentError(BrokerError):
    condition = "com.microsoft:argument-error"
    status = 400


class MessageLockLost(BrokerError):
    # MessageLockLostError in the SDK; 410 Gone is what Service Bus answers on management.
    condition = "com.microsoft:message-lock-lost"
    status = 410


class SessionLockLost(BrokerError):
    condition = "com.microsoft:session-lock-lost"
    status = 410


class SessionCannotBeLocked(BrokerError):
    condition = "com.microsoft:session-cannot-be-locked"
    status = 409


class MessageNotFound(BrokerError):
    condition = "com.microsoft:message-not-found"
    status = 404


class MessageTooLarge(BrokerError):
    condition = "amqp:link:message-size-exceeded"
    status = 413


class OperationTimeout(BrokerError):
    condition = "com.microsoft:timeout"
    status = 408


class NotImplementedOperation(BrokerError):
    condition = "amqp:not-implemented"
    status = 501


class QuotaExceeded(BrokerError):
    # ServiceBusQuotaExceededError in the SDK; Service Bus answers 403 on management.
    condition = "amqp:resource-limit-exceeded"
    status = 403


class Unauthorized(BrokerError):
    # ServiceBusAuthorizationError in the SDK.
    condition = "amqp:unauthorized-access"
    status = 401


class EntityExists(BrokerError):
    # The admin API answers 409 Conflict (ResourceExistsError in the SDK).
    condition = "com.microsoft:entity-already-exists"
    status = 409
