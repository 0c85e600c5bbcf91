"""Operations commands on a running stack: `python -m training rules`."""
