//! The expression subset that can evaluate, parsed into Python's node shapes, with the
//! parser-stack depth CPython would reach (see [`super::PARSER_DEPTH_BUDGET`]).
use super::lex::{Tok, Token};
use super::{LiteralError, PARSER_DEPTH_BUDGET, PyStr, PyValue, Result, syntax};

/// Python's AST node kinds, as far as literals need them.
pub(super) enum Node {
    Const(PyValue),
    Unary {
        negative: bool,
        operand: Box<Node>,
    },
    BinOp {
        subtract: bool,
        left: Box<Node>,
        right: Box<Node>,
    },
    Tuple(Vec<Node>),
    List(Vec<Node>),
    Set(Vec<Node>),
    Dict(Vec<(Node, Node)>),
    SetCall,
    /// A name; only `set` called without arguments is a literal.
    Name {
        is_set: bool,
    },
}

/// Parses the tokens of an eval input, failing like CPython when nesting exhausts its stack.
pub(super) fn parse(toks: Vec<Token>) -> Result<Node> {
    let mut parser = Parser {
        toks,
        i: 0,
        deepest: 0,
    };
    let node = parser.eval_input()?;
    if parser.deepest > PARSER_DEPTH_BUDGET {
        return Err(LiteralError::TooComplex);
    }
    Ok(node)
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    deepest: u32,
}

/// PEG stack costs of [`PARSER_DEPTH_BUDGET`].
mod cost {
    pub const TOP_AFTER_COMMA: u32 = 2;
    pub const PAREN_FIRST: u32 = 28;
    pub const BRACKET_FIRST: u32 = 29;
    pub const AFTER_COMMA: u32 = 30;
    pub const UNARY: u32 = 1;
    pub const STRING: u32 = 2;
    pub const SET_CALL_ARGS: u32 = 24;
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }

    fn offset(&self) -> usize {
        self.toks[self.i].offset
    }

    fn bump(&mut self) -> Tok {
        let tok = std::mem::replace(&mut self.toks[self.i].tok, Tok::End);
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        tok
    }

    fn eat(&mut self, f: impl Fn(&Tok) -> bool) -> bool {
        if f(self.peek()) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_close(&mut self, opener: u8) -> Result<()> {
        if self.eat(|t| matches!(t, Tok::Close(o) if *o == opener)) {
            Ok(())
        } else {
            syntax(self.offset(), "invalid syntax")
        }
    }

    fn leaf(&mut self, depth: u32) {
        self.deepest = self.deepest.max(depth);
    }

    fn starts_expression(&self) -> bool {
        matches!(
            self.peek(),
            Tok::Int(_)
                | Tok::Float(_)
                | Tok::Imag(_)
                | Tok::Str(_)
                | Tok::Bytes(_)
                | Tok::Keyword(_)
                | Tok::SetName
                | Tok::OtherName
                | Tok::Open(_)
                | Tok::Plus
                | Tok::Minus
                | Tok::Ellipsis
        )
    }

    fn eval_input(&mut self) -> Result<Node> {
        let first = self.expression(0)?;
        let node = if self.eat(|t| matches!(t, Tok::Comma)) {
            let mut items = vec![first];
            while self.starts_expression() {
                items.push(self.expression(cost::TOP_AFTER_COMMA)?);
                if !self.eat(|t| matches!(t, Tok::Comma)) {
                    break;
                }
            }
            Node::Tuple(items)
        } else {
            first
        };
        self.eat(|t| matches!(t, Tok::Newline));
        if !matches!(self.peek(), Tok::End) {
            return syntax(self.offset(), "invalid syntax");
        }
        Ok(node)
    }

    /// A `sum`: at most one binary `+`/`-` can be a literal, so a second one fails here.
    fn expression(&mut self, depth: u32) -> Result<Node> {
        let left = self.factor(depth)?;
        let subtract = match self.peek() {
            Tok::Plus => false,
            Tok::Minus => true,
            _ => return Ok(left),
        };
        self.bump();
        let right = self.factor(depth)?;
        if matches!(self.peek(), Tok::Plus | Tok::Minus) {
            return Err(LiteralError::Malformed("chained binary operation"));
        }
        Ok(Node::BinOp {
            subtract,
            left: Box::new(left),
            right: Box::new(right),
        })
    }

    /// A unary sign applies to one number only, so a second sign fails here (which also keeps
    /// `- - - ... 1` from recursing).
    fn factor(&mut self, depth: u32) -> Result<Node> {
        let negative = match self.peek() {
            Tok::Plus => false,
            Tok::Minus => true,
            _ => return self.primary(depth),
        };
        self.bump();
        if matches!(self.peek(), Tok::Plus | Tok::Minus) {
            return Err(LiteralError::Malformed("nested unary operation"));
        }
        let operand = self.primary(depth + cost::UNARY)?;
        Ok(Node::Unary {
            negative,
            operand: Box::new(operand),
        })
    }

    fn primary(&mut self, depth: u32) -> Result<Node> {
        let atom = self.atom(depth)?;
        match self.peek() {
            Tok::Open(b'(') => {}
            Tok::Open(b'[') => return Err(LiteralError::Malformed("subscript")),
            _ => return Ok(atom),
        }
        if !matches!(atom, Node::Name { is_set: true }) {
            return Err(LiteralError::Malformed("call"));
        }
        self.bump();
        self.leaf(depth + cost::SET_CALL_ARGS);
        if !self.eat(|t| matches!(t, Tok::Close(b'('))) {
            return Err(LiteralError::Malformed("set() with arguments"));
        }
        if matches!(self.peek(), Tok::Open(b'(' | b'[')) {
            return Err(LiteralError::Malformed("call or subscript of set()"));
        }
        Ok(Node::SetCall)
    }

    fn atom(&mut self, depth: u32) -> Result<Node> {
        let offset = self.offset();
        match self.bump() {
            Tok::Int(i) => {
                self.leaf(depth);
                Ok(Node::Const(PyValue::Int(i)))
            }
            Tok::Float(x) => {
                self.leaf(depth);
                Ok(Node::Const(PyValue::Float(x)))
            }
            Tok::Imag(x) => {
                self.leaf(depth);
                Ok(Node::Const(PyValue::Complex { re: 0.0, im: x }))
            }
            Tok::Keyword(v) => {
                self.leaf(depth);
                Ok(Node::Const(v))
            }
            Tok::Ellipsis => {
                self.leaf(depth);
                Ok(Node::Const(PyValue::Ellipsis))
            }
            Tok::SetName => {
                self.leaf(depth);
                Ok(Node::Name { is_set: true })
            }
            Tok::OtherName => Err(LiteralError::Malformed("name")),
            tok @ (Tok::Str(_) | Tok::Bytes(_)) => {
                self.leaf(depth + cost::STRING);
                self.strings(tok)
            }
            Tok::Open(b'(') => self.paren(depth),
            Tok::Open(b'[') => {
                let items = self.items(depth, b'[')?;
                Ok(Node::List(items))
            }
            Tok::Open(_) => self.brace(depth),
            _ => syntax(offset, "invalid syntax"),
        }
    }

    /// Implicit concatenation of adjacent string (or bytes) literals.
    fn strings(&mut self, first: Tok) -> Result<Node> {
        let is_bytes = matches!(first, Tok::Bytes(_));
        let mut text: Vec<u32> = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        let mut tok = first;
        loop {
            match tok {
                Tok::Str(s) => text.extend(s),
                Tok::Bytes(b) => data.extend(b),
                _ => unreachable!("only string tokens reach here"),
            }
            match self.peek() {
                Tok::Str(_) | Tok::Bytes(_) => {
                    if matches!(self.peek(), Tok::Bytes(_)) != is_bytes {
                        return syntax(self.offset(), "cannot mix bytes and nonbytes literals");
                    }
                    tok = self.bump();
                }
                _ => break,
            }
        }
        Ok(Node::Const(if is_bytes {
            PyValue::Bytes(data)
        } else {
            PyValue::Str(PyStr::from_code_points(text))
        }))
    }

    /// After `(`: `()`, a parenthesised expression, or a tuple.
    fn paren(&mut self, depth: u32) -> Result<Node> {
        if self.eat(|t| matches!(t, Tok::Close(b'('))) {
            self.leaf(depth + cost::PAREN_FIRST);
            return Ok(Node::Tuple(Vec::new()));
        }
        let first = self.expression(depth + cost::PAREN_FIRST)?;
        if self.eat(|t| matches!(t, Tok::Close(b'('))) {
            // Parentheses make no node: `(set)()` is still a call of the name `set`.
            return Ok(first);
        }
        if !self.eat(|t| matches!(t, Tok::Comma)) {
            return syntax(self.offset(), "invalid syntax");
        }
        let mut items = vec![first];
        while self.starts_expression() {
            items.push(self.expression(depth + cost::AFTER_COMMA)?);
            if !self.eat(|t| matches!(t, Tok::Comma)) {
                break;
            }
        }
        self.expect_close(b'(')?;
        Ok(Node::Tuple(items))
    }

    /// Comma-separated expressions up to the bracket closing `opener` (a trailing comma
    /// allowed), for lists and sets.
    fn items(&mut self, depth: u32, opener: u8) -> Result<Vec<Node>> {
        let mut items = Vec::new();
        if self.eat(|t| matches!(t, Tok::Close(o) if *o == opener)) {
            self.leaf(depth + cost::BRACKET_FIRST);
            return Ok(items);
        }
        items.push(self.expression(depth + cost::BRACKET_FIRST)?);
        self.rest_of_items(depth, opener, items)
    }

    fn rest_of_items(&mut self, depth: u32, opener: u8, mut items: Vec<Node>) -> Result<Vec<Node>> {
        while self.eat(|t| matches!(t, Tok::Comma)) {
            if !self.starts_expression() {
                break;
            }
            items.push(self.expression(depth + cost::AFTER_COMMA)?);
        }
        self.expect_close(opener)?;
        Ok(items)
    }

    /// After `{`: a dict or a set display.
    fn brace(&mut self, depth: u32) -> Result<Node> {
        if self.eat(|t| matches!(t, Tok::Close(b'{'))) {
            self.leaf(depth + cost::BRACKET_FIRST);
            return Ok(Node::Dict(Vec::new()));
        }
        let first = self.expression(depth + cost::BRACKET_FIRST)?;
        if !self.eat(|t| matches!(t, Tok::Colon)) {
            let items = self.rest_of_items(depth, b'{', vec![first])?;
            return Ok(Node::Set(items));
        }
        let value = self.expression(depth + cost::BRACKET_FIRST)?;
        let mut pairs = vec![(first, value)];
        while self.eat(|t| matches!(t, Tok::Comma)) {
            if !self.starts_expression() {
                break;
            }
            let key = self.expression(depth + cost::AFTER_COMMA)?;
            if !self.eat(|t| matches!(t, Tok::Colon)) {
                return syntax(self.offset(), "':' expected after dictionary key");
            }
            let value = self.expression(depth + cost::AFTER_COMMA)?;
            pairs.push((key, value));
        }
        self.expect_close(b'{')?;
        Ok(Node::Dict(pairs))
    }
}
