"""Evaluation: Bench2Drive scoring, open-loop metrics, replay."""
