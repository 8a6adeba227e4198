"""The voice activity gate's hysteresis, on hand-made probabilities."""

from livetrans.core.vad import FRAME_SECONDS, VadGate, VadOptions


def run(probabilities, options=None):
    gate = VadGate(options)
    return [gate.step(p) for p in probabilities], gate


def test_speech_starts_on_the_first_confident_frame():
    transitions, gate = run([0.1, 0.2, 0.6, 0.7])
    assert transitions == [None, None, "start", None] and gate.active


def test_a_short_dip_does_not_end_the_utterance():
    frames_for_end = round(0.5 / FRAME_SECONDS)
    transitions, gate = run([0.9] * 5 + [0.1] * (frames_for_end - 1) + [0.9])
    assert "end" not in transitions and gate.active


def test_enough_silence_ends_the_utterance():
    frames_for_end = round(0.5 / FRAME_SECONDS)
    transitions, gate = run([0.9] * 5 + [0.1] * frames_for_end)
    assert transitions[-1] == "end" and not gate.active


def test_middling_probabilities_keep_the_state():
    transitions, gate = run([0.9] + [0.4] * 100)  # between neg_threshold and threshold
    assert transitions.count("end") == 0 and gate.active
    transitions, gate = run([0.4] * 100)
    assert transitions.count("start") == 0 and not gate.active


def test_short_blips_are_not_enough_speech():
    _, gate = run([0.9] * 3, VadOptions(min_speech=0.25))
    assert not gate.enough_speech
    _, gate = run([0.9] * 10, VadOptions(min_speech=0.25))
    assert gate.enough_speech
