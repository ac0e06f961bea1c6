import azure.functions as func

app = func.FunctionApp()

value = {"a": 1}["missing"]  # line 5: raises KeyError at import
