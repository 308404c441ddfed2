"""Feedback for coaches: an athlete (a photo) doing an edited motion, as video."""
