"""tracemon.traces — reading trace files into frames.  No UI code here (a test enforces it).

``open_trace(path)`` detects the format by magic bytes and returns a ``Trace`` whose
``FrameIndex`` holds compact columns for every frame; ``Trace.frame(i)`` decodes one frame.
"""

from .errors import TraceError, TraceWarning
from .fields import REGISTRY, FieldDef, FieldType, Registry
from .frame import Field, Frame, Layer
from .index import FrameIndex
from .trace import Interface, Progress, Provider, Trace, detect_format, open_trace

__all__ = [
    "REGISTRY",
    "Field",
    "FieldDef",
    "FieldType",
    "Frame",
    "FrameIndex",
    "Interface",
    "Layer",
    "Progress",
    "Provider",
    "Registry",
    "Trace",
    "TraceError",
    "TraceWarning",
    "detect_format",
    "open_trace",
]
