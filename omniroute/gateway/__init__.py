"""The front doors (``/v1/*``) and the request pipeline behind them."""
