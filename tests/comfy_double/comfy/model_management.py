"""TEST DOUBLE of comfy.model_management's interrupt flag (same semantics: a BaseException)."""

interrupt_processing = False


class InterruptProcessingException(BaseException):
    pass


def interrupt_current_processing(value: bool = True) -> None:
    global interrupt_processing
    interrupt_processing = value


def processing_interrupted() -> bool:
    return interrupt_processing


def throw_exception_if_processing_interrupted() -> None:
    global interrupt_processing
    if interrupt_processing:
        interrupt_processing = False
        raise InterruptProcessingException()
