"""The served model's lifecycle: what is served (one immutable object), where it comes
from, and following its source to swap a new model in without a restart."""
