"""The answer stage, a module per step: candidates -> judge -> reader -> verify -> cite (quote mode: quote).

    candidates  the sentences of the retrieved passages that may answer, ranked (no LLM)
    judge       the model's calibrated yes/no probability: does this evidence answer / state that?
    reader      writes the short answer from the chosen evidence only
"""
