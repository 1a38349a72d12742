"""Intake's rules, pure (standard library only): personal identity numbers, the codes a
submission may carry, one referral per child, receiving a submission once, and the life of an
Open ePlatform instance. Ids, keys and time come in as arguments.
"""
