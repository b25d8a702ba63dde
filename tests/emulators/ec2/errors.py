"""The error an action raises to answer with EC2's error XML."""


class Ec2Error(Exception):
    """An EC2 API error: its code, message and HTTP status (400 unless EC2 uses another)."""


    def __init__(self, code, message, status=400, fault=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fault = fault  # set when the error comes from an injected fault
