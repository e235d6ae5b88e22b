"""A local Agora Cloud Recording service that follows the published API and injects faults on demand."""

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.lifecycle import ControlError
from emulator.state import Emulator
from emulator.testing import RunningEmulator, running_emulator

__all__ = ["ControlError", "Emulator", "EmulatorConfig", "RunningEmulator", "create_app", "running_emulator"]
