"""Privileged teacher for distillation in the embedded simulator (no ROS).

Modules: `config` (frozen configs + YAML loading), `tokens` (PlanT-style object tokens from
ground truth), `scene` (backend -> tokens, stop-sign memory), `model` (`PrivilegedTeacher`),
`datagen` (expert episodes with perturbations), `train` (behaviour cloning, checkpoints,
annotation of episodes with planning tokens), `driver` (closed-loop `TeacherDriver`).
"""
